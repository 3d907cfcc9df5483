"""Transformer building blocks shared by every model family.

Post-norm layers as in Transformer base (Vaswani et al. 2017; fairseq `transformer`): each sublayer
is `x = LayerNorm(x + Dropout(sublayer(x)))`. Attention is `attend` below. Token embeddings are
scaled by sqrt(d_model) and shared by the encoder, the decoder and the output projection (tied
embeddings).

A source is either token ids [B, S] (long, right-padded with pad, ending in EOS) or, for image
captioning (`source_features` F), region features [B, S, F] (float, right-padded with all-zero
rows, no EOS): `source_pad` and `embed_source` are the two places that tell them apart.

Shapes: B batch, S source length, T target length, D d_model, H heads, V vocabulary.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

MAX_POSITIONS = 1024


class SinusoidalPositions(nn.Module):
    def __init__(self, d_model: int, max_positions: int = MAX_POSITIONS):
        super().__init__()
        position = torch.arange(max_positions, dtype=torch.float32)[:, None]
        freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        table = torch.zeros(max_positions, d_model)
        table[:, 0::2] = torch.sin(position * freq)
        table[:, 1::2] = torch.cos(position * freq[: d_model // 2])
        self.register_buffer("table", table, persistent=False)

    def forward(self, length: int) -> torch.Tensor:  # -> [length, D]
        return self.table[:length]


class LearnedPositions(nn.Module):
    def __init__(self, d_model: int, max_positions: int = MAX_POSITIONS):
        super().__init__()
        self.table = nn.Embedding(max_positions, d_model)
        nn.init.normal_(self.table.weight, std=d_model**-0.5)

    def forward(self, length: int) -> torch.Tensor:  # -> [length, D]
        return self.table.weight[:length]


def attend(q, k, v, allowed):
    """softmax(q k^T / sqrt(d)) v over the allowed keys; a query with none allowed gets zeros.

    q [B, H, T, d], k and v [B, H, S, d], allowed [B, 1, T or 1, S] -> [B, H, T, d]. On CUDA this is
    `F.scaled_dot_product_attention` (fused kernels). On the CPU it is two matmuls and a float32
    softmax: measured here (one thread, B=70, H=4, T=S=30, d=32, forward + backward) 3.5 ms in bf16
    autocast against 22 ms for SDPA's bf16 CPU kernel, and 6.8 ms in float32 against SDPA's 7-9 ms.
    """
    if q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    scores = torch.matmul(q * q.shape[-1] ** -0.5, k.transpose(-1, -2))  # [B, H, T, S]
    probs = scores.float().masked_fill(~allowed, float("-inf")).softmax(-1)
    probs = probs.masked_fill(~allowed.any(-1, keepdim=True), 0.0)  # as SDPA: no key, no output
    return torch.matmul(probs.to(v.dtype), v)


class Dropout(nn.Module):
    """nn.Dropout with its mask drawn by torch.rand: measured (one thread, forward + backward of a
    [2048, 512] tensor) 5.7 ms in bf16 and 6.7 ms in float32, against 7.5 and 8.7 ms for
    nn.Dropout's bernoulli_; dropout was a tenth of a bf16 training step."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu":  # measured on the CPU only: elsewhere torch's fused kernel
            return F.dropout(x, self.p, True)
        keep = torch.rand(x.shape, device=x.device) >= self.p
        return x * (keep.to(x.dtype) * (1 / (1 - self.p)))


class Attention(nn.Module):
    def __init__(self, d_model: int, heads: int):
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model={d_model} is not divisible by heads={heads}")
        self.heads = heads
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, query, memory, memory_pad, causal: bool = False, cache: dict | None = None, static: bool = False):
        # query [B, T, D], memory [B, S, D], memory_pad [B, S] (True at padding) -> [B, T, D]
        # cache (incremental decoding): keys/values computed so far. Self-attention appends this
        # step's; cross-attention (static) computes the encoder's once and reuses them.
        B, T, D = query.shape
        def split(x):
            return x.view(B, -1, self.heads, D // self.heads).transpose(1, 2)  # [B, H, n, D/H]
        q = split(self.q(query))
        if cache is not None and static and "k" in cache:
            k, v = cache["k"], cache["v"]
        else:
            k, v = split(self.k(memory)), split(self.v(memory))
            if cache is not None and "k" in cache:
                k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
            if cache is not None:
                cache["k"], cache["v"] = k, v
        allowed = ~memory_pad[:, None, None, :]  # [B, 1, 1, S]
        if causal:
            allowed = allowed & torch.ones(T, k.shape[2], dtype=torch.bool, device=query.device).tril(k.shape[2] - T)
        out = attend(q, k, v, allowed)
        return self.out(out.transpose(1, 2).reshape(B, T, D))


class FeedForward(nn.Module):
    def __init__(self, d_model: int, ffn_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(d_model, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, d_model)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.self_attn, self.ffn = Attention(d_model, heads), FeedForward(d_model, ffn_dim)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout = Dropout(dropout)

    def forward(self, x, pad):
        x = self.norm1(x + self.dropout(self.self_attn(x, x, pad)))
        return self.norm2(x + self.dropout(self.ffn(x)))


class DecoderLayer(nn.Module):
    def __init__(self, d_model: int, heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.self_attn, self.cross_attn = Attention(d_model, heads), Attention(d_model, heads)
        self.ffn = FeedForward(d_model, ffn_dim)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.dropout = Dropout(dropout)

    def forward(self, x, pad, memory, memory_pad, causal: bool, cache: dict | None = None):
        # cache: {"self": {...}, "cross": {...}} for incremental decoding; pad then covers all keys so far
        self_cache, cross_cache = (cache["self"], cache["cross"]) if cache is not None else (None, None)
        x = self.norm1(x + self.dropout(self.self_attn(x, x, pad, causal=causal, cache=self_cache)))
        x = self.norm2(x + self.dropout(self.cross_attn(x, memory, memory_pad, cache=cross_cache, static=True)))
        return self.norm3(x + self.dropout(self.ffn(x)))


def source_pad(src: torch.Tensor, pad: int) -> torch.Tensor:
    """Where a source is padding: src [B, S] token ids -> ids equal to pad; src [B, S, F] region
    features -> all-zero rows (as the meshed-memory captioning Transformer masks its regions;
    `diffglat prepare` drops the all-zero regions of real images, so no real one is masked) -> [B, S]."""
    return src.eq(pad) if not src.is_floating_point() else src.eq(0).all(-1)


def source_lengths(src: torch.Tensor, pad: int) -> torch.Tensor:
    """Source positions in use (tokens incl. EOS, or image regions): [B]."""
    return (~source_pad(src, pad)).sum(1)


class TransformerSeq2Seq(nn.Module):
    """Shared embeddings, encoder, decoder stack and tied output projection.

    Subclasses decide what the decoder reads (shifted target for AR, copied source for NAT)
    and whether its self-attention is causal. With `source_features` F the encoder reads image
    region features through a projection (Linear F -> D, ReLU, dropout, LayerNorm: the
    meshed-memory Transformer's input layer) and adds no positions (regions are a set).
    """

    def __init__(self, vocab_size: int, pad: int, encoder_layers: int, decoder_layers: int, d_model: int,
                 heads: int, ffn_dim: int, dropout: float, positions: str, max_positions: int = MAX_POSITIONS,
                 source_features: int | None = None):
        super().__init__()
        self.source_features = source_features
        # tokens a source ends with after its content: EOS for text, nothing for image regions
        self.source_end = 1 if source_features is None else 0
        self.feature_projection = None if source_features is None else nn.Sequential(
            nn.Linear(source_features, d_model), nn.ReLU(), Dropout(dropout), nn.LayerNorm(d_model))
        self.pad, self.d_model, self.max_positions = pad, d_model, max_positions
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=pad)
        nn.init.normal_(self.embed.weight, std=d_model**-0.5)
        with torch.no_grad():
            self.embed.weight[pad].zero_()
        self.positions = {"sinusoidal": SinusoidalPositions, "learned": LearnedPositions}[positions](d_model, max_positions)
        self.dropout = Dropout(dropout)
        self.encoder = nn.ModuleList(EncoderLayer(d_model, heads, ffn_dim, dropout) for _ in range(encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(d_model, heads, ffn_dim, dropout) for _ in range(decoder_layers))

    def embed_tokens(self, tokens):  # [B, T] -> [B, T, D], scaled, without positions
        return self.embed(tokens) * math.sqrt(self.d_model)

    def add_positions(self, x, offset: int = 0):  # [B, T, D] -> [B, T, D], positions offset..offset+T-1
        return self.dropout(x + self.positions(offset + x.shape[1])[offset:])

    def embed_source(self, src):  # [B, S] ids or [B, S, F] features -> [B, S, D], without positions
        return self.embed_tokens(src) if self.feature_projection is None else self.feature_projection(src)

    def encode(self, src):
        # src [B, S] ids (padded with self.pad) or [B, S, F] features -> memory [B, S, D], memory_pad [B, S]
        pad = source_pad(src, self.pad)
        x = self.embed_source(src)
        x = self.add_positions(x) if self.feature_projection is None else x
        for layer in self.encoder:
            x = layer(x, pad)
        return x, pad

    def decoder_states(self, x, pad, memory, memory_pad, causal: bool, cache: list | None = None) -> list[torch.Tensor]:
        # x [B, T, D] decoder input -> the output of every decoder layer, each [B, T, D]
        states = []
        for i, layer in enumerate(self.decoder):
            x = layer(x, pad, memory, memory_pad, causal, None if cache is None else cache[i])
            states.append(x)
        return states

    def project(self, hidden):  # [B, T, D] -> logits [B, T, V] through the tied embedding
        return F.linear(hidden, self.embed.weight)
