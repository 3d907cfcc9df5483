"""The single best CTC alignment (Viterbi over the extended label sequence blank, y_1, blank, ...,
y_T, blank): what glancing reveals on CTC models (GLAT+CTC, DiffGLAT-CTC).

The decoder emits S >= T frames; a frame sequence yields the target after collapsing repeats and
dropping blanks.
"""

from __future__ import annotations

import torch

NEG_INF = float("-inf")


@torch.no_grad()
def ctc_best_alignment(log_probs, input_lengths, targets, target_lengths, blank: int) -> torch.Tensor:
    """The most probable frame labelling that collapses to the target: [B, S] token ids (blank
    included; -1 past the input length or when no alignment exists).
    """
    B, S, _ = log_probs.shape
    T = targets.shape[1]
    U = 2 * T + 1
    extended = torch.full((B, U), blank, dtype=torch.long, device=log_probs.device)
    extended[:, 1::2] = targets
    valid_u = torch.arange(U, device=log_probs.device)[None, :] < (2 * target_lengths + 1)[:, None]
    # A skip u-2 -> u is allowed onto a token that differs from the token two labels back.
    can_skip = torch.zeros(B, U, dtype=torch.bool, device=log_probs.device)
    can_skip[:, 2:] = (extended[:, 2:] != blank) & (extended[:, 2:] != extended[:, :-2])

    emit = log_probs.gather(-1, extended[:, None, :].expand(B, S, U))  # [B, S, U]
    emit = emit.masked_fill(~valid_u[:, None, :], NEG_INF)
    score = torch.full((B, U), NEG_INF, dtype=log_probs.dtype, device=log_probs.device)
    score[:, 0] = emit[:, 0, 0]
    if U > 1:
        score[:, 1] = emit[:, 0, 1]
    back = torch.zeros(S, B, U, dtype=torch.long, device=log_probs.device)  # 0: stay, 1: from u-1, 2: from u-2
    history = [score]
    for s in range(1, S):
        stay = score
        step = torch.cat([score.new_full((B, 1), NEG_INF), score[:, :-1]], dim=1)
        skip = torch.cat([score.new_full((B, 2), NEG_INF), score[:, :-2]], dim=1).masked_fill(~can_skip, NEG_INF)
        candidates = torch.stack([stay, step, skip])  # [3, B, U]
        best, back[s] = candidates.max(dim=0)
        score = best + emit[:, s]
        history.append(score)
    rows = torch.arange(B, device=log_probs.device)
    scores = torch.stack(history)  # [S, B, U]
    last_s = input_lengths - 1
    end_blank, end_token = 2 * target_lengths, 2 * target_lengths - 1
    final_blank = scores[last_s, rows, end_blank]
    final_token = torch.where(target_lengths > 0, scores[last_s, rows, end_token.clamp(min=0)], final_blank.new_full((B,), NEG_INF))
    u = torch.where(final_token > final_blank, end_token, end_blank)
    feasible = torch.isfinite(torch.maximum(final_blank, final_token))

    alignment = torch.full((B, S), -1, dtype=torch.long, device=log_probs.device)
    for s in range(S - 1, -1, -1):
        active = (s <= last_s) & feasible
        alignment[:, s] = torch.where(active, extended.gather(1, u[:, None].clamp(min=0)).squeeze(1), alignment[:, s])
        u = torch.where(active, u - back[s, rows, u.clamp(min=0)], u)
    return alignment
