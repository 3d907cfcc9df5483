"""NAT decoding: every position's argmax, in parallel."""

from __future__ import annotations

import torch


@torch.no_grad()
def nat_argmax(model, src: torch.Tensor, tgt_lengths: torch.Tensor, layers: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """Independent argmax at every position, for each requested decoder layer: layer -> [B, T]."""
    output = model(src, tgt_lengths, output_layers=layers)
    return {layer: logits.argmax(-1).masked_fill(output.target_pad, model.pad) for layer, logits in output.layer_logits.items()}
