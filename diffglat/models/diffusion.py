"""DiffGLAT's diffusion processes: the intermediate target ỹ each transition is trained against.

Levels follow the paper: y_0 is the data, y_T the decoder input; transition t -> t-1 (the
(T-t+1)-th in decoding order) predicts P_{t-1} = p(y_{t-1} | y_t, x) and is trained on ỹ_{t-1}.
Targets live in "target space" [B, n] (a position per target token); what a transition predicts
for target position k is read at the decoder position aligned to k (`read_positions`).

Modality diffusion process (MDP; Eq. 8-9, simplified as in appendix E, Eq. 24):
    q(y_{t-1} | y_t, y_0) = gamma P_{t-2} + (1 - gamma) P_{t-2} * y_0 (elementwise, y_0 one-hot)
so at each position the target token y_0 wins unless another token w beats it by
p(w) > p(y_0) / gamma, and ỹ_{t-1} = argmax. gamma is chosen per sentence from a fixed set as the
largest value that keeps at least `keep_fraction` of the tokens on which y_0 and the previous
transition's prediction ŷ_t agree ("the maximum value that preserves 90% of the tokens in
y_0 * y_t"). Three choices the paper leaves open are settings (`MdpRule`):
  empty_agreement  what to do when no token agrees (always for the first transition, whose input
                   is the copied source): "largest", the literal reading (the constraint is empty,
                   so every gamma qualifies and gamma = max, the model's own argmax);
                   "smallest_positive" (stay next to y_0); "keep_target" (apply the keep fraction to
                   every target token instead: at most 1 - keep_fraction of y_0 changes).
  exact_keep       Eq. 9's third term (omega Z y_0 * y_t) preserves what ỹ_t captured; with
                   exact_keep a position equal to y_0 in ỹ_t stays y_0 in ỹ_{t-1} (the chain,
                   computed from t = T down, then moves monotonically toward y_0). Eq. 24 has no
                   such term: off in the literal reading.
  gammas           the candidate set (the paper does not list its own).
Measured on a 160-step Multi30k warm-up (config.yaml notes): the fraction of intermediate-target
tokens that differ from y_0 per transition is what tells whether a diffusion takes place.

D3PM ablations (Austin et al. 2021, paper §4.3): the forward chain y_0 -> y_1 -> ... where step s
corrupts each token with probability beta_s = 1 / (T - s + 1): absorbing replaces it by <mask>,
uniform by a uniformly drawn non-special token. (The marginal corruption rate of y_t is t / T.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.dictionary import SPECIALS, Dictionary
from .output import best_tokens

NEG_INF = float("-inf")
PROCESSES = ("mdp", "d3pm_absorbing", "d3pm_uniform")
# gamma candidates (the paper does not list its set): 0 keeps y0, 1 is the model's own argmax
GAMMAS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
EMPTY_AGREEMENT = ("largest", "smallest_positive", "keep_target")


@dataclass(frozen=True)
class MdpRule:
    """How the MDP picks gamma (see the module docstring); the defaults are the paper's literal reading."""
    gammas: tuple[float, ...] = GAMMAS
    keep_fraction: float = 0.9
    empty_agreement: str = "largest"
    exact_keep: bool = False

    def __post_init__(self):
        if list(self.gammas) != sorted(self.gammas) or self.gammas[0] != 0 or self.gammas[-1] > 1:
            raise ValueError(f"gammas must ascend from 0 (0 keeps the target) to at most 1: {self.gammas}")
        if self.empty_agreement not in EMPTY_AGREEMENT:
            raise ValueError(f"empty_agreement {self.empty_agreement!r} is not one of {EMPTY_AGREEMENT}")
        if not 0 <= self.keep_fraction <= 1:
            raise ValueError(f"keep_fraction must lie in [0, 1]: {self.keep_fraction}")


def diffusable(y0: torch.Tensor) -> torch.Tensor:
    """Positions whose token may change along the process: all but pad, BOS and EOS. [B, n] bool."""
    return (y0 != Dictionary.pad) & (y0 != Dictionary.bos) & (y0 != Dictionary.eos)


def read_positions(logits: torch.Tensor, aligned: torch.Tensor, y0: torch.Tensor):
    """What a transition predicts for each target position.

    logits [B, n, V]: the transition's logits at the decoder position aligned to each target
    position; aligned [B, n] (False: no such position); y0 [B, n]
    -> prediction [B, n] (argmax; -1 where unaligned), margin [B, n] = log p(y0) - max_{w != y0} log p(w)
    (+inf where unaligned, so that y0 stays), other [B, n] = that best w. The alternatives w are real
    tokens only: a special symbol (a CTC blank, a DAG's EOS) is never an intermediate target token.
    """
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # bf16 under autocast
    y0_score = logits.gather(-1, y0[..., None]).squeeze(-1)
    alternatives = logits.scatter(-1, y0[..., None], NEG_INF)
    alternatives[..., : len(SPECIALS)] = NEG_INF
    other_score, other = alternatives.max(-1)
    margin = (y0_score - other_score).masked_fill(~aligned, float("inf"))  # softmax normalisers cancel
    prediction = best_tokens(logits).masked_fill(~aligned, -1)
    return prediction, margin, other


def modality_diffusion(y0, margin, other, agree, rule: MdpRule) -> torch.Tensor:
    """The MDP chain ỹ_{T-1}, ỹ_{T-2}, ..., ỹ_{T-m}.

    y0 [B, n]. Step j (0-based) builds ỹ_{T-1-j} from the prediction of the transition after it,
    P_{T-2-j}: margin[j], other[j] [B, n] (see `read_positions`), and picks gamma on agree[j] [B, n],
    the positions where the transition before it predicted y0 (ŷ_{T-j} = y0; none for j = 0).
    -> [m, B, n]
    """
    changeable = diffusable(y0)
    log_gammas = torch.log(torch.tensor(rule.gammas, dtype=margin.dtype, device=margin.device))  # [G]; log 0 = -inf
    index = torch.arange(len(rule.gammas), device=y0.device)[:, None]
    targets, previous = [], None
    for j in range(margin.shape[0]):
        wins = margin[j][None] >= log_gammas[:, None, None]  # [G, B, n]: y0 is the argmax for that gamma
        counted = agree[j] & changeable
        empty = ~counted.any(-1)  # [B]
        if rule.empty_agreement == "keep_target":
            counted = torch.where(empty[:, None], changeable, counted)
        kept = (wins & counted).sum(-1) >= rule.keep_fraction * counted.sum(-1) - 1e-6  # [G, B]
        choice = (kept * index).argmax(0)  # [B]: the largest gamma that keeps enough (all qualify if none counted)
        if rule.empty_agreement == "smallest_positive":
            choice = torch.where(empty, min(1, len(rule.gammas) - 1), choice)
        win = wins.gather(0, choice[None, :, None].expand(1, *y0.shape))[0]
        if rule.exact_keep and previous is not None:
            win = win | (previous == y0)  # what ỹ_t captured stays: the chain moves toward y0
        previous = torch.where(win | ~changeable, y0, other[j])
        targets.append(previous)
    return torch.stack(targets)


def differ_fraction(target: torch.Tensor, y0: torch.Tensor) -> float:
    """The fraction of diffusable positions where an intermediate target differs from y0."""
    changeable = diffusable(y0)
    return float(((target != y0) & changeable).sum()) / max(int(changeable.sum()), 1)


def d3pm_step(tokens: torch.Tensor, changeable: torch.Tensor, beta: float, process: str, vocab_size: int,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """One forward step q(y_s | y_{s-1}): each changeable token is corrupted with probability beta. [B, n]"""
    hit = (torch.rand(tokens.shape, generator=generator, device=tokens.device) < beta) & changeable
    if process == "d3pm_absorbing":
        corrupted = torch.full_like(tokens, Dictionary.mask)
    elif process == "d3pm_uniform":
        corrupted = torch.randint(len(SPECIALS), vocab_size, tokens.shape, generator=generator, device=tokens.device)
    else:
        raise ValueError(f"unknown D3PM process {process!r}")
    return torch.where(hit, corrupted, tokens)


def d3pm_target(y0: torch.Tensor, level: int, steps: int, process: str, vocab_size: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """ỹ_level ~ q(y_level | y0) by running the forward chain with beta_s = 1 / (T - s + 1), T = steps. [B, n]"""
    changeable, tokens = diffusable(y0), y0
    for s in range(1, level + 1):
        tokens = d3pm_step(tokens, changeable, 1.0 / (steps - s + 1), process, vocab_size, generator)
    return tokens
