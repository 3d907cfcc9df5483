"""Label-smoothed cross-entropy, optionally on several decoder layers at once.

One criterion serves the AR model (last layer vs. target + EOS), the vanilla NAT (last layer vs.
target) and progressive modality learning (last layer vs. the four-modality target plus a middle
layer vs. the merged two-modality target; the per-layer token means are summed, paper appendix A).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.output import DecoderOutput

class LayerwiseCrossEntropy:
    def __init__(self, layer_targets: dict, label_smoothing: float, pad: int):
        """layer_targets: decoder layer (1-based) -> batch key of that layer's target [B, T]."""
        self.layer_targets, self.label_smoothing, self.pad = layer_targets, label_smoothing, pad

    @property
    def layers(self) -> tuple[int, ...]:
        return tuple(self.layer_targets)

    def __call__(self, output: DecoderOutput, batch: dict) -> tuple[torch.Tensor, dict]:
        total, stats = 0.0, {}
        for layer, key in self.layer_targets.items():
            logits = output.layer_logits[layer]
            target = batch[key]
            if output.glanced is not None:  # glanced positions saw their answer: they leave the loss
                target = target.masked_fill(output.glanced, self.pad)
            flat_logits, flat_target = logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1)
            loss = F.cross_entropy(flat_logits, flat_target, ignore_index=self.pad, label_smoothing=self.label_smoothing)
            total = total + loss
            with torch.no_grad():
                nll = F.cross_entropy(flat_logits, flat_target, ignore_index=self.pad)
            stats[f"nll_{layer}"] = float(nll)
        stats["loss"] = float(total.detach())
        return total, stats
