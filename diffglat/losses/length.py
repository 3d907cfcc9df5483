"""Target length prediction loss for NATs that predict their output length (fairseq NAT: weight 0.1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.output import DecoderOutput
from ..models.transformer import source_lengths


class WithLengthLoss:
    """criterion(output, batch) + weight x cross-entropy of the model's length classifier.

    `length` is the model's LengthPredictor: it maps the true length to its class.
    """

    def __init__(self, criterion, length, weight: float, pad: int):
        if length is None:
            raise ValueError("this criterion trains a length classifier: set model.max_length_offset "
                             "(a NAT decodes the lengths it predicts)")
        self.criterion, self.length, self.weight, self.pad = criterion, length, weight, pad

    @property
    def layers(self) -> tuple[int, ...]:
        return self.criterion.layers

    def __call__(self, output: DecoderOutput, batch: dict) -> tuple[torch.Tensor, dict]:
        loss, stats = self.criterion(output, batch)
        target = self.length.target(source_lengths(batch["src"], self.pad), batch["tgt_lengths"])  # [B]
        length_loss = F.cross_entropy(output.length_logits.float(), target)
        loss = loss + self.weight * length_loss
        stats["length_nll"] = float(length_loss.detach())
        stats["loss"] = float(loss.detach())
        return loss, stats
