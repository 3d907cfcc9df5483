"""Vanilla non-autoregressive Transformer (Gu et al. 2018) with per-layer outputs.

The decoder input is a uniform copy of the source token embeddings (target position j reads
source token floor(j * S' / T'), S' and T' the unpadded lengths, source EOS excluded) plus target
positions. Self-attention is bidirectional. Any decoder layer can be sent through the shared
output projection, which progressive modality learning (PML) uses to supervise a middle layer.
"""

from __future__ import annotations

import torch

from .output import DecoderOutput
from .transformer import TransformerSeq2Seq


def uniform_copy_index(src_lengths: torch.Tensor, tgt_lengths: torch.Tensor, max_tgt: int) -> torch.Tensor:
    # src_lengths, tgt_lengths [B] -> source position for every target position [B, max_tgt]
    j = torch.arange(max_tgt, device=src_lengths.device)[None, :]
    index = (j * src_lengths[:, None]) // tgt_lengths.clamp(min=1)[:, None]
    return torch.minimum(index, (src_lengths - 1).clamp(min=0)[:, None])


class NATransformer(TransformerSeq2Seq):
    def forward(self, src: torch.Tensor, tgt_lengths: torch.Tensor, output_layers: tuple[int, ...] | None = None) -> DecoderOutput:
        # src [B, S] (tokens + EOS), tgt_lengths [B] -> logits [B, T, V] for each requested layer
        memory, memory_pad = self.encode(src)
        max_tgt = int(tgt_lengths.max())
        pad = torch.arange(max_tgt, device=src.device)[None, :] >= tgt_lengths[:, None]  # [B, T]
        src_lengths = (~memory_pad).sum(1) - 1  # without EOS
        copied = torch.gather(self.embed_tokens(src), 1,
                              uniform_copy_index(src_lengths, tgt_lengths, max_tgt)[..., None].expand(-1, -1, self.d_model))
        states = self.decoder_states(self.add_positions(copied), pad, memory, memory_pad, causal=False)
        layers = output_layers or (len(self.decoder),)
        return DecoderOutput({layer: self.project(states[layer - 1]) for layer in layers}, pad)

    def forward_batch(self, batch: dict, output_layers: tuple[int, ...]) -> DecoderOutput:
        """Trainer entry point: the target lengths are given (oracle length)."""
        return self(batch["src"], batch["tgt_lengths"], output_layers)
