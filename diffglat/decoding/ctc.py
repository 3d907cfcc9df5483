"""CTC decoding: each frame's argmax, consecutive repeats collapsed, then blanks dropped."""

from __future__ import annotations

import torch

from .dag import collapse_repeats, left_align


def ctc_greedy(logits: torch.Tensor, frame_pad: torch.Tensor, blank: int, pad: int) -> torch.Tensor:
    """logits [B, S, V], frame_pad [B, S] -> tokens [B, <=S] (pad after the end)."""
    frames = collapse_repeats(logits.argmax(-1).masked_fill(frame_pad, pad), pad)
    return left_align(frames, (frames != blank) & (frames != pad), pad)
