"""The record every model returns and every loss and generator reads."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class DecoderOutput:
    layer_logits: dict[int, torch.Tensor]  # decoder layer (1-based) -> logits [B, T, V]
    target_pad: torch.Tensor  # [B, T], True at padding positions (for DAT: padded vertices)
    layer_links: dict[int, torch.Tensor] = field(default_factory=dict)  # DAT: layer -> links [B, L, L]
    glanced: torch.Tensor | None = None  # [B, T], True where glancing fed the target token: no loss there

    @property
    def logits(self) -> torch.Tensor:
        """Logits of the last decoder layer that was projected: [B, T, V]."""
        return self.layer_logits[max(self.layer_logits)]
