"""CTC (Graves et al. 2006; Libovicky and Helcl 2018): the loss.

The decoder emits S >= T frames (S = upsample ratio x source length); a frame sequence yields
the target after collapsing repeats and dropping blanks. The single best alignment, which glancing
reveals on CTC models, is in alignment/ctc.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def ctc_loss(log_probs, input_lengths, targets, target_lengths, blank: int) -> torch.Tensor:
    """Mean over sentences of -log P(y | x) / T_b; infeasible sentences give 0 (zero_infinity).

    log_probs [B, S, V], targets [B, T] (padded), lengths [B].
    """
    log_probs = log_probs.to(torch.promote_types(log_probs.dtype, torch.float32))  # no half precision in CTC
    loss = F.ctc_loss(log_probs.transpose(0, 1), targets, input_lengths, target_lengths,
                      blank=blank, reduction="none", zero_infinity=True)
    return (loss / target_lengths.clamp(min=1)).mean()


class CTCCriterion:
    """(DecoderOutput of a CTC-NAT, batch) -> CTC loss of one decoder layer, per the loss contract."""

    def __init__(self, layer: int, blank: int):
        self.layer, self.blank = layer, blank

    @property
    def layers(self) -> tuple[int, ...]:
        return (self.layer,)

    def __call__(self, output, batch: dict) -> tuple[torch.Tensor, dict]:
        log_probs = torch.log_softmax(output.logits_at[self.layer].float(), dim=-1)  # [B, S, V]
        loss = ctc_loss(log_probs, (~output.decoder_pad).sum(1), batch["tgt"], batch["tgt_lengths"], self.blank)
        return loss, {"loss": float(loss.detach())}
