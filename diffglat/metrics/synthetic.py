"""Accuracies of the synthetic study (paper appendix A, "Evaluation").

Each output is compared with the closest of the four valid targets of its source (the one sharing
the most positions). Token ("number") accuracy is the percentage of positions equal to that
target, sequence accuracy the percentage of outputs identical to it. The modality of an output is
the modality of its closest target; an output tied between several targets counts a fraction
towards each, and one matching no target at any position counts as "none".
"""

from __future__ import annotations

import numpy as np

from ..data.synthetic import MODALITY_NAMES, all_targets


def align(hypotheses: list[list[int]], length: int) -> np.ndarray:
    """Hypotheses cut or zero-padded to `length`: [n, length]. 0 is never a valid number."""
    aligned = np.zeros((len(hypotheses), length), dtype=np.int64)
    for i, hyp in enumerate(hypotheses):
        aligned[i, : min(len(hyp), length)] = hyp[:length]
    return aligned


def closest_target_scores(hypotheses: list[list[int]], sources: np.ndarray, max_number: int) -> dict:
    """hypotheses: output numbers per sentence (specials removed); sources [n, L] -> scores in %."""
    candidates = all_targets(sources, max_number)  # [n, 4, L]
    n, _, length = candidates.shape
    if len(hypotheses) != n:
        raise ValueError(f"{len(hypotheses)} hypotheses for {n} sources")
    aligned = align(hypotheses, length)
    matches = (aligned[:, None, :] == candidates).sum(-1)  # [n, 4]
    best = matches.max(1)
    right_length = np.array([len(h) == length for h in hypotheses])
    distribution = np.zeros(len(MODALITY_NAMES) + 1)
    for row, top in zip(matches, best):
        if top == 0:
            distribution[-1] += 1
        else:
            tied = row == top
            distribution[:-1] += tied / tied.sum()
    return {
        "n": int(n),
        "token_accuracy": float(100.0 * best.sum() / (n * length)),
        "sequence_accuracy": float(100.0 * np.mean((best == length) & right_length)),
        "modality_distribution": {name: float(100.0 * share / n)
                                  for name, share in zip(MODALITY_NAMES + ("none",), distribution)},
    }


def reference_token_accuracy(hypotheses: list[list[int]], references: np.ndarray) -> float:
    """Percentage of positions equal to each pair's *own* reference [n, L] (not the closest target).

    On training pairs this measures how much a NAR has memorised which modality each training
    source was given; on unseen pairs it stays at chance, since the modality is drawn at random.
    """
    return float(100.0 * (align(hypotheses, references.shape[1]) == references).mean())
