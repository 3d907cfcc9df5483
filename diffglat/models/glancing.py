"""Glancing sampling (GLAT, Qian et al. 2021) and its residual variant (DiffGLAT Eq. 12).

The model first predicts without help; the number of positions to reveal is
S = floor(ratio * d), d the Hamming distance between that prediction and the target. S positions
are then drawn uniformly at random among the allowed ones (all target positions for GLAT; for
residual glancing only those where the previous transition's prediction is wrong). Revealed
positions get the target token's embedding as decoder input and leave the loss.
"""

from __future__ import annotations

from typing import Callable

import torch

from .output import DecoderOutput


def glance_count(prediction: torch.Tensor, target: torch.Tensor, target_pad: torch.Tensor, ratio: float) -> torch.Tensor:
    """floor(ratio * Hamming distance) per sentence: prediction, target [B, T]; target_pad [B, T] -> [B]."""
    distance = ((prediction != target) & ~target_pad).sum(-1)
    return torch.floor(distance.to(torch.float64) * ratio).long()


def glancing_mask(allowed: torch.Tensor, counts: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pick min(counts[b], allowed[b].sum()) positions of row b uniformly among the allowed ones.

    allowed [B, T] bool, counts [B] -> mask [B, T] bool. Vectorised: random scores, disallowed
    positions pushed last, each row takes its top counts[b].
    """
    scores = torch.rand(allowed.shape, generator=generator, device=allowed.device)
    scores = scores.masked_fill(~allowed, -1.0)
    order = scores.argsort(dim=-1, descending=True)
    rank = torch.empty_like(order)
    rank.scatter_(-1, order, torch.arange(allowed.shape[-1], device=allowed.device).expand_as(order))
    return (rank < counts[:, None]) & allowed


def linear_ratio(step: int, max_steps: int, start: float, end: float) -> float:
    """The glancing ratio annealed linearly from start to end over training (e.g. 0.5 -> 0.3)."""
    progress = min(max(step / max(max_steps, 1), 0.0), 1.0)
    return start + (end - start) * progress


def two_pass_glancing(model, src: torch.Tensor, lengths: torch.Tensor, output_layers: tuple[int, ...],
                      choose: Callable[[DecoderOutput], tuple[torch.Tensor, torch.Tensor]]) -> DecoderOutput:
    """Glancing training: pass 1 without gradients (still in train mode), choose(pass 1 output) ->
    (glance_mask [B, T], glance_tokens [B, T]), then pass 2 with the same dropout masks as pass 1 (the
    RNG is rewound), reading the glance tokens' embeddings where glance_mask is set.

    src [B, S], lengths [B] (decoder lengths) -> pass 2's output, `glanced` set to the glance mask.
    """
    rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if src.is_cuda else None
    with torch.no_grad():
        first = model(src, lengths)
    glance_mask, glance_tokens = choose(first)
    torch.set_rng_state(rng)  # pass 2 draws the same dropout masks as pass 1
    if cuda_rng is not None:
        torch.cuda.set_rng_state_all(cuda_rng)
    output = model(src, lengths, output_layers, glance_mask=glance_mask, glance_tokens=glance_tokens)
    output.glanced = glance_mask
    return output
