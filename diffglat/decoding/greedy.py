"""Greedy decoding for the AR model and per-layer argmax decoding for the NAT."""

from __future__ import annotations

import torch


@torch.no_grad()
def ar_greedy(model, src: torch.Tensor, max_len: int, bos: int, eos: int) -> torch.Tensor:
    """Left-to-right argmax until every sentence has produced EOS or max_len tokens.

    src [B, S] -> tokens [B, <=max_len] without BOS; positions after a sentence's EOS hold pad.
    """
    memory, memory_pad = model.encode(src)
    B = src.shape[0]
    tokens = torch.full((B, 1), bos, dtype=torch.long, device=src.device)
    finished = torch.zeros(B, dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        next_token = model.decode(tokens, memory, memory_pad).logits[:, -1].argmax(-1)
        next_token = next_token.masked_fill(finished, model.pad)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
        finished |= next_token.eq(eos)
        if finished.all():
            break
    return tokens[:, 1:]


@torch.no_grad()
def nat_argmax(model, src: torch.Tensor, tgt_lengths: torch.Tensor, layers: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """Independent argmax at every position, for each requested decoder layer: layer -> [B, T]."""
    output = model(src, tgt_lengths, output_layers=layers)
    return {layer: logits.argmax(-1).masked_fill(output.target_pad, model.pad) for layer, logits in output.layer_logits.items()}
