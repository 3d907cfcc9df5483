"""The record every model returns and every loss and generator reads."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


def best_tokens(logits: torch.Tensor) -> torch.Tensor:
    """argmax over the vocabulary: logits [..., V] -> [...] (ties: the first index, as argmax).

    `max(-1).indices` rather than `argmax(-1)`: on the CPU, bf16 argmax is not vectorised (measured
    one thread, [146, 28, 6000] bf16 logits: 89 ms against 21 ms).
    """
    return logits.max(-1).indices


@dataclass
class DecoderOutput:
    """What a model's decoder produced, keyed by output point: the decoder layer (1-based) whose states
    went through the output projection, or for DiffGLAT the transition (1-based, decoding order)."""

    logits_at: dict[int, torch.Tensor]  # output point -> logits [B, L, V]
    decoder_pad: torch.Tensor  # [B, L], True at padded decoder positions (target positions, CTC frames, DAG vertices)
    links_at: dict[int, torch.Tensor] = field(default_factory=dict)  # DAT: output point -> links [B, L, L]
    glanced: torch.Tensor | None = None  # [B, L], True where glancing fed the target token: no loss there
    length_logits: torch.Tensor | None = None  # [B, C] target length classifier (NAT/GLAT with length prediction)
    forced_alignment: torch.Tensor | None = None  # DAT glancing: [B, L], target position a glanced vertex must emit, else -1
    target: torch.Tensor | None = None  # DiffGLAT: the intermediate target the loss trains against, [B, n] (the family's framing)
    diffusion_stats: dict[int, float] = field(default_factory=dict)  # DiffGLAT: transition -> fraction of its ỹ that differs from y0

    @property
    def logits(self) -> torch.Tensor:
        """Logits of the last output point (layer or transition): [B, L, V]."""
        return self.logits_at[max(self.logits_at)]

    @property
    def links(self) -> torch.Tensor:
        """Links of the last output point (DAT): [B, L, L]."""
        return self.links_at[max(self.links_at)]
