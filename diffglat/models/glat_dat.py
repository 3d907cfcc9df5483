"""DA-Transformer with glancing (Huang et al. 2022): glance on the best path, force-align the glanced.

Two passes as in GLAT (models/glancing.py). The target BOS y EOS has no fixed vertex, so pass 1's
Viterbi path (glancing.dag_path) assigns one vertex to every target position. The
distance d counts the positions whose vertex's argmax token differs from the target token;
S = floor(ratio x d) positions drawn uniformly get the target token's embedding as input at their
vertex. The loss then pins each glanced position to its vertex (alignment.force_alignment), as
the reference's `glat` in nat_dag_loss does with `force_emit`; the reference rounds ratio x d to the
nearest integer, we floor as in GLAT. The ratio anneals linearly, 0.5 -> 0.1 in the DAT recipe.
"""

from __future__ import annotations

import torch

from ..data.dictionary import Dictionary
from ..alignment import dag_target
from .dat import DATransformer
from .glancing import GlanceSchedule, dag_path, glance_count, glancing_mask, two_pass_glancing
from .output import DecoderOutput, best_tokens


def glance_on_best_path(first: DecoderOutput, target: torch.Tensor, pad: int, ratio: float) -> torch.Tensor:
    """Pick the glanced target positions of pass 1's output on its best path.

    target [B, T] (BOS y EOS, padded) -> forced [B, L]: the target position each glanced vertex
    emits, -1 at the other vertices.
    """
    B, L, _ = first.logits.shape
    path = dag_path(first, target, pad)  # [B, T], -1: none
    on_path = path >= 0
    predicted = best_tokens(first.logits).gather(1, path.clamp(min=0))  # [B, T]: argmax token of each position's vertex
    chosen = glancing_mask(on_path, glance_count(predicted, target, ~on_path, ratio))  # [B, T]
    positions = torch.arange(target.shape[1], device=target.device).expand_as(target)
    vertex = torch.where(chosen, path, L)  # unchosen positions write to a spare column, dropped below
    return torch.full((B, L + 1), -1, dtype=torch.long, device=target.device).scatter_(1, vertex, positions)[:, :L]


class GlancingDAT(DATransformer):
    def __init__(self, upsample: int, glance_start: float, glance_end: float, glance_steps: int, **transformer):
        super().__init__(upsample, **transformer)
        self.schedule = GlanceSchedule(glance_start, glance_end, glance_steps)

    def forward_batch(self, batch: dict, output_layers: tuple[int, ...], step: int = 0) -> DecoderOutput:
        src, target = batch["src"], dag_target(batch["tgt_eos"], Dictionary.bos)  # target [B, T]: BOS y EOS
        ratio = self.schedule.ratio(step)
        forced = None

        def choose(first: DecoderOutput):
            nonlocal forced
            forced = glance_on_best_path(first, target, Dictionary.pad, ratio)  # [B, L]
            return forced >= 0, target.gather(1, forced.clamp(min=0))

        output = two_pass_glancing(self, src, self.decoder_lengths(src), output_layers, choose)
        output.forced_alignment = forced
        return output
