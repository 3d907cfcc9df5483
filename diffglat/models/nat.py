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
    def decoder_input(self, src, memory_pad, tgt_lengths):
        """Uniformly copied source embeddings [B, T, D] (no positions yet) and the target padding [B, T]."""
        max_tgt = int(tgt_lengths.max())
        pad = torch.arange(max_tgt, device=src.device)[None, :] >= tgt_lengths[:, None]
        src_lengths = (~memory_pad).sum(1) - 1  # without EOS
        index = uniform_copy_index(src_lengths, tgt_lengths, max_tgt)
        return torch.gather(self.embed_tokens(src), 1, index[..., None].expand(-1, -1, self.d_model)), pad

    def forward(self, src: torch.Tensor, tgt_lengths: torch.Tensor, output_layers: tuple[int, ...] | None = None,
                glance_mask: torch.Tensor | None = None, glance_tokens: torch.Tensor | None = None) -> DecoderOutput:
        # src [B, S] (tokens + EOS), tgt_lengths [B] -> logits [B, T, V] for each requested layer.
        # Glancing: where glance_mask [B, T] is set, the decoder reads the embedding of glance_tokens [B, T].
        memory, memory_pad = self.encode(src)
        x, pad = self.decoder_input(src, memory_pad, tgt_lengths)
        if glance_mask is not None:
            x = torch.where(glance_mask[..., None], self.embed_tokens(glance_tokens), x)
        states = self.decoder_states(self.add_positions(x), pad, memory, memory_pad, causal=False)
        layers = output_layers or (len(self.decoder),)
        return self.outputs(states, pad, layers)

    def outputs(self, states: list[torch.Tensor], pad: torch.Tensor, layers: tuple[int, ...]) -> DecoderOutput:
        return DecoderOutput({layer: self.project(states[layer - 1]) for layer in layers}, pad)

    def forward_batch(self, batch: dict, output_layers: tuple[int, ...], step: int = 0) -> DecoderOutput:
        """Trainer entry point (step: the training step, for models with schedules): oracle target lengths."""
        return self(batch["src"], batch["tgt_lengths"], output_layers)


class UpsampledNAT(NATransformer):
    """A NAT whose decoder is `upsample` x the source length (CTC frames, DAG vertices), not the target's."""

    def __init__(self, upsample: int, **transformer):
        super().__init__(**transformer)
        self.upsample = upsample

    def decoder_lengths(self, src: torch.Tensor) -> torch.Tensor:
        """upsample x (source tokens incl. EOS): [B]."""
        return self.upsample * src.ne(self.pad).sum(1)

    def forward_batch(self, batch: dict, output_layers: tuple[int, ...], step: int = 0) -> DecoderOutput:
        return self(batch["src"], self.decoder_lengths(batch["src"]), output_layers)
