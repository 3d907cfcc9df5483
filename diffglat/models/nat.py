"""Vanilla non-autoregressive Transformer (Gu et al. 2018) with per-layer outputs.

The decoder input is a uniform copy of the source token embeddings (target position j reads
source token floor(j * S' / T'), S' and T' the unpadded lengths, source EOS excluded) plus target
positions. Self-attention is bidirectional. Any decoder layer can be sent through the shared
output projection, which progressive modality learning (PML) uses to supervise a middle layer.

Target length (`max_length_offset` m set): as in fairseq's NAT, a linear classifier on the mean of
the encoder output predicts the offset target length - source length (source tokens incl. EOS),
clipped to [-m, m]: 2m + 1 classes. Training still decodes the oracle length and adds the length
cross-entropy (losses/length.py); inference decodes the top predicted lengths (decoding/nat.py).
Without m (the synthetic study) the model always reads the oracle length.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .output import DecoderOutput
from .transformer import TransformerSeq2Seq, source_lengths


def uniform_copy_index(src_lengths: torch.Tensor, tgt_lengths: torch.Tensor, max_tgt: int) -> torch.Tensor:
    # src_lengths, tgt_lengths [B] -> source position for every target position [B, max_tgt]
    j = torch.arange(max_tgt, device=src_lengths.device)[None, :]
    index = (j * src_lengths[:, None]) // tgt_lengths.clamp(min=1)[:, None]
    return torch.minimum(index, (src_lengths - 1).clamp(min=0)[:, None])


class LengthPredictor(nn.Module):
    """Classes 0..2m stand for the length offsets -m..m from the source length."""

    def __init__(self, d_model: int, max_offset: int):
        super().__init__()
        self.max_offset = max_offset
        self.classifier = nn.Linear(d_model, 2 * max_offset + 1)

    def forward(self, memory: torch.Tensor, memory_pad: torch.Tensor) -> torch.Tensor:
        # memory [B, S, D], memory_pad [B, S] -> logits [B, 2m + 1], from the mean of the unpadded states
        keep = (~memory_pad)[..., None].to(memory.dtype)
        pooled = (memory * keep).sum(1) / keep.sum(1).clamp(min=1)
        return self.classifier(pooled)

    def target(self, src_lengths: torch.Tensor, tgt_lengths: torch.Tensor) -> torch.Tensor:
        """The class of each true length: src_lengths (incl. EOS), tgt_lengths [B] -> [B]."""
        offset = tgt_lengths - src_lengths
        return offset.clamp(-self.max_offset, self.max_offset) + self.max_offset

    def lengths(self, src_lengths: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """The length (at least 1) each class stands for: src_lengths [B], classes [B, k] -> [B, k]."""
        return (src_lengths[:, None] + classes - self.max_offset).clamp(min=1)


class NATransformer(TransformerSeq2Seq):
    def __init__(self, max_length_offset: int | None = None, **transformer):
        super().__init__(**transformer)
        self.length = LengthPredictor(self.d_model, max_length_offset) if max_length_offset else None

    def decoder_input(self, src, memory_pad, tgt_lengths):
        """Uniformly copied source embeddings (projected regions) [B, T, D], no positions yet, and
        the target padding [B, T]."""
        max_tgt = int(tgt_lengths.max())
        pad = torch.arange(max_tgt, device=src.device)[None, :] >= tgt_lengths[:, None]
        src_lengths = (~memory_pad).sum(1) - self.source_end  # without EOS
        index = uniform_copy_index(src_lengths, tgt_lengths, max_tgt)
        return torch.gather(self.embed_source(src), 1, index[..., None].expand(-1, -1, self.d_model)), pad

    def forward(self, src: torch.Tensor, tgt_lengths: torch.Tensor, output_layers: tuple[int, ...] | None = None,
                glance_mask: torch.Tensor | None = None, glance_tokens: torch.Tensor | None = None) -> DecoderOutput:
        # src [B, S] (tokens + EOS), tgt_lengths [B] -> logits [B, T, V] for each requested layer.
        # Glancing: where glance_mask [B, T] is set, the decoder reads the embedding of glance_tokens [B, T].
        memory, memory_pad = self.encode(src)
        output = self.decode(src, memory, memory_pad, tgt_lengths, output_layers, glance_mask, glance_tokens)
        if self.length is not None:
            output.length_logits = self.length(memory, memory_pad)
        return output

    def decode(self, src, memory, memory_pad, tgt_lengths, output_layers=None, glance_mask=None,
               glance_tokens=None) -> DecoderOutput:
        """The decoder half of `forward`, on an encoded source (decoding reuses it for several lengths)."""
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
        """upsample x (source tokens incl. EOS, or image regions), at most the position table's
        size: [B]. Training never reaches the bound (cli.translation sizes the table for the longest
        admitted source); a longer test source gets the longest decoder the table holds."""
        return (self.upsample * source_lengths(src, self.pad)).clamp(max=self.max_positions)

    def forward_batch(self, batch: dict, output_layers: tuple[int, ...], step: int = 0) -> DecoderOutput:
        return self(batch["src"], self.decoder_lengths(batch["src"]), output_layers)
