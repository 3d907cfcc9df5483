"""The record every model returns and every loss and generator reads."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class DecoderOutput:
    layer_logits: dict[int, torch.Tensor]  # decoder layer (1-based) -> logits [B, T, V]
    target_pad: torch.Tensor  # [B, T], True at padding positions

    @property
    def logits(self) -> torch.Tensor:
        """Logits of the last decoder layer that was projected: [B, T, V]."""
        return self.layer_logits[max(self.layer_logits)]
