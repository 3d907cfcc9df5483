"""DA-Transformer (Huang et al. 2022): a NAT whose decoder states are the vertices of a DAG.

The decoder has L = upsample x (source length incl. EOS) positions. Besides the token
distribution of every vertex, the model predicts transition ("link") log-probabilities between
vertices: links[i, j] for j > i only. As in the reference design the links read the decoder states
concatenated with a learned position embedding, split queries and keys into per-head chunks,
take a softmax over j > i per chunk, and mix the chunks with a learned per-vertex gate (in log
space). Links are computed in float32 even under autocast.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from .nat import UpsampledNAT
from .output import DecoderOutput
from .transformer import MAX_POSITIONS

NEG_INF = float("-inf")


def masked_log_softmax(scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """log_softmax over the last dim restricted to allowed entries; rows with none allowed are all -inf."""
    has_any = allowed.any(-1, keepdim=True)
    scores = scores.masked_fill(~allowed, NEG_INF).masked_fill(~has_any, 0.0)
    return torch.log_softmax(scores, -1).masked_fill(~allowed, NEG_INF)


class DagLinks(nn.Module):
    def __init__(self, d_model: int, heads: int, max_positions: int = MAX_POSITIONS):
        super().__init__()
        self.heads = heads
        self.positions = nn.Embedding(max_positions, d_model)
        nn.init.normal_(self.positions.weight, std=d_model**-0.5)
        self.query = nn.Linear(2 * d_model, d_model)
        self.key = nn.Linear(2 * d_model, d_model)
        self.gate = nn.Linear(2 * d_model, heads)

    def forward(self, hidden: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        # hidden [B, L, D], pad [B, L] -> links [B, L, L] float32 (log-probabilities, -inf where j <= i or padded)
        B, L, D = hidden.shape
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            features = torch.cat([hidden.float(), self.positions.weight[:L].float().expand(B, L, D)], dim=-1)
            def split(x):
                return x.view(B, L, self.heads, D // self.heads).transpose(1, 2)  # [B, H, L, D/H]
            q, k = split(self.query(features)), split(self.key(features))
            scores = q @ k.transpose(-1, -2) / math.sqrt(D // self.heads)  # [B, H, L, L]
            later = torch.ones(L, L, dtype=torch.bool, device=hidden.device).triu(1)
            allowed = (later[None] & ~pad[:, None, :])[:, None]  # [B, 1, L, L]
            per_head = masked_log_softmax(scores, allowed)
            gate = torch.log_softmax(self.gate(features), -1).transpose(1, 2)[..., None]  # [B, H, L, 1]
            # Mix on finite stand-ins, then mask: a logsumexp over all -inf has NaN gradients.
            mixed = torch.logsumexp(gate + per_head.masked_fill(~allowed, 0.0), dim=1)
            return mixed.masked_fill(~allowed[:, 0], NEG_INF)


class DATransformer(UpsampledNAT):
    """The DAG has L_b = upsample x (source tokens incl. EOS) vertices: `decoder_lengths`."""

    def __init__(self, upsample: int, **transformer):
        super().__init__(upsample, **transformer)
        self.links = DagLinks(self.d_model, transformer["heads"], self.max_positions)

    def outputs(self, states: list[torch.Tensor], pad: torch.Tensor, layers: tuple[int, ...]) -> DecoderOutput:
        output = super().outputs(states, pad, layers)
        output.links_at = {layer: self.links(states[layer - 1], pad) for layer in layers}
        return output
