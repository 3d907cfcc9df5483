"""Glancing sampling (GLAT, Qian et al. 2021) and its residual variant (DiffGLAT Eq. 12).

The model first predicts without help; the number of positions to reveal is
S = floor(ratio * d), d the Hamming distance between that prediction and the target. S positions
are then drawn uniformly at random among the allowed ones (all target positions for GLAT; for
residual glancing only those where the previous transition's prediction is wrong). Revealed
positions get the target token's embedding as decoder input and leave the loss.

What every glancing model shares lives here: the ratio schedule, the RNG snapshot that lets pass 2
draw pass 1's dropout masks again, and the alignments of a prediction with its target (a DAG's best
path, the best CTC alignment) that decide where a target token can be glanced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..alignment import ctc_best_alignment, dag_best_alignment, dag_match
from ..data.dictionary import Dictionary
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


@dataclass(frozen=True)
class GlanceSchedule:
    """alpha, the glancing ratio: linear from start to end over `steps` updates, restarting every
    `period` updates when set (the "periodic" schedule of iterative DiffGLAT models)."""

    start: float
    end: float
    steps: int
    period: int = 0

    def ratio(self, step: int) -> float:
        return linear_ratio(step % self.period if self.period else step, self.steps, self.start, self.end)


class RandomState:
    """A snapshot of the torch generator of the device a batch lives on (CPU, or CPU and its CUDA
    device): `restore()` makes the next random draws, dropout masks included, repeat."""

    def __init__(self, device: torch.device):
        self.device = device
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda, self.device)


def dag_path(output: DecoderOutput, target: torch.Tensor, pad: int) -> torch.Tensor:
    """The best path of target [B, T] (BOS y EOS, padded) on a DAG output's last logits and links:
    the vertex of each target position [B, T], -1 past the target or where no path exists."""
    match = dag_match(output.logits, target, pad, output.decoder_pad)  # [B, T, L]
    return dag_best_alignment(match, output.links, target.ne(pad).sum(1), (~output.decoder_pad).sum(1))


def ctc_frames(output: DecoderOutput, target: torch.Tensor, pad: int) -> torch.Tensor:
    """The best CTC alignment of target [B, T] (padded) on a CTC output's last logits: the label of
    each frame [B, S], blank included; -1 past the frames or where no alignment exists."""
    log_probs = torch.log_softmax(output.logits.float(), dim=-1)  # [B, S, V]
    return ctc_best_alignment(log_probs, (~output.decoder_pad).sum(1), target, target.ne(pad).sum(1), Dictionary.blank)


def two_pass_glancing(model, src: torch.Tensor, lengths: torch.Tensor, output_layers: tuple[int, ...],
                      choose: Callable[[DecoderOutput], tuple[torch.Tensor, torch.Tensor]]) -> DecoderOutput:
    """Glancing training: pass 1 without gradients (still in train mode), choose(pass 1 output) ->
    (glance_mask [B, T], glance_tokens [B, T]), then pass 2 with the same dropout masks as pass 1 (the
    RNG is rewound), reading the glance tokens' embeddings where glance_mask is set.

    src [B, S], lengths [B] (decoder lengths) -> pass 2's output, `glanced` set to the glance mask.
    """
    before = RandomState(src.device)
    with torch.no_grad():
        first = model(src, lengths)
    glance_mask, glance_tokens = choose(first)
    before.restore()  # pass 2 draws the same dropout masks as pass 1
    output = model(src, lengths, output_layers, glance_mask=glance_mask, glance_tokens=glance_tokens)
    output.glanced = glance_mask
    return output
