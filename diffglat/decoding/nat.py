"""NAT decoding: every position's argmax, in parallel; with predicted lengths, a length beam."""

from __future__ import annotations

import torch


@torch.no_grad()
def nat_argmax(model, src: torch.Tensor, tgt_lengths: torch.Tensor, layers: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """Independent argmax at every position, for each requested decoder layer: layer -> [B, T]."""
    output = model(src, tgt_lengths, output_layers=layers)
    return {layer: logits.argmax(-1).masked_fill(output.decoder_pad, model.pad) for layer, logits in output.logits_at.items()}


@torch.no_grad()
def length_beam(model, src: torch.Tensor, beam: int) -> torch.Tensor:
    """Decode the `beam` most probable predicted lengths by argmax, all in one batched pass, and keep
    per sentence the candidate with the best mean token log-probability (fairseq's length beam).

    src [B, S] -> tokens [B, T] (pad after each sentence's length).
    """
    memory, memory_pad = model.encode(src)
    classes = model.length(memory, memory_pad).topk(beam, dim=-1).indices  # [B, k]
    lengths = model.length.lengths((~memory_pad).sum(1), classes).flatten()  # [B*k], sentence-major
    def repeat(x):
        return x.repeat_interleave(beam, dim=0)
    output = model.decode(repeat(src), repeat(memory), repeat(memory_pad), lengths)
    scores, tokens = torch.log_softmax(output.logits.float(), dim=-1).max(-1)  # [B*k, T]
    mean_score = scores.masked_fill(output.decoder_pad, 0.0).sum(-1) / lengths
    rows = torch.arange(src.shape[0], device=src.device) * beam + mean_score.view(-1, beam).argmax(-1)  # [B]
    width = int(lengths[rows].max())
    return tokens[rows, :width].masked_fill(output.decoder_pad[rows, :width], model.pad)
