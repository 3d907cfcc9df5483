"""Decoding a DA-Transformer graph into tokens (Huang et al. 2022; Shao et al. 2022).

Inputs: token log-probs [B, L, V], links [B, L, L] (log transition probabilities, j > i only),
graph_lengths [B]. Every strategy walks from vertex 0 to vertex L_b - 1, emits one token per
visited vertex, and returns token ids [B, <=L] (pad after the end) with consecutive duplicates
collapsed, as the reference implementations do.

- greedy:     next vertex = argmax_j links[i, j]; token = argmax_y p(y | v)
- lookahead:  next vertex = argmax_j links[i, j] + beta * max_y log p(y | v_j)
- viterbi:    the path maximising sum(links) / m^beta over path lengths m, tokens by argmax
- joint_viterbi: the path maximising (sum(links) + sum_v max_y log p(y | v)) / m^beta
"""

from __future__ import annotations

import torch

NEG_INF = float("-inf")


def collapse_repeats(tokens: torch.Tensor, pad: int) -> torch.Tensor:
    """Drop each token equal to its predecessor and left-align what remains: [B, N] -> [B, N']."""
    keep = torch.ones_like(tokens, dtype=torch.bool)
    keep[:, 1:] = tokens[:, 1:] != tokens[:, :-1]
    return left_align(tokens, keep & (tokens != pad), pad)


def left_align(tokens: torch.Tensor, keep: torch.Tensor, pad: int) -> torch.Tensor:
    """The kept tokens of each row, left-aligned and padded: [B, N] -> [B, N']."""
    rows = [row[mask] for row, mask in zip(tokens, keep)]
    out = torch.full((len(rows), max(1, max(len(r) for r in rows))), pad, dtype=tokens.dtype, device=tokens.device)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def _walk(links, node_scores, graph_lengths, beta: float) -> torch.Tensor:
    """Greedy walk from vertex 0: at i, go to argmax_j links[i, j] + beta * node_scores[j]. -> visited [B, L]."""
    B, L, _ = links.shape
    rows = torch.arange(B, device=links.device)
    vertex = torch.zeros(B, dtype=torch.long, device=links.device)
    visited = torch.full((B, L), -1, dtype=torch.long, device=links.device)
    visited[:, 0] = 0
    done = graph_lengths <= 1
    for step in range(1, L):
        scores = links[rows, vertex] + beta * node_scores
        vertex = torch.where(done, vertex, scores.argmax(-1))
        visited[:, step] = torch.where(done, -1, vertex)
        done = done | (vertex == graph_lengths - 1)
        if done.all():
            break
    return visited


def _emit(token_logprobs, visited, pad: int) -> torch.Tensor:
    tokens = token_logprobs.argmax(-1).gather(1, visited.clamp(min=0))
    return collapse_repeats(tokens.masked_fill(visited < 0, pad), pad)


def greedy(token_logprobs, links, graph_lengths, pad: int) -> torch.Tensor:
    return _emit(token_logprobs, _walk(links, torch.zeros_like(links[:, 0]), graph_lengths, 0.0), pad)


def lookahead(token_logprobs, links, graph_lengths, pad: int, beta: float = 1.0) -> torch.Tensor:
    return _emit(token_logprobs, _walk(links, token_logprobs.max(-1).values, graph_lengths, beta), pad)


def best_path_by_length(links, node_scores, graph_lengths, beta: float) -> torch.Tensor:
    """max over path lengths m of (best path score with m vertices) / m^beta. -> visited [B, L]."""
    B, L, _ = links.shape
    rows = torch.arange(B, device=links.device)
    end = graph_lengths - 1
    score = torch.full((B, L), NEG_INF, dtype=links.dtype, device=links.device)
    score[:, 0] = node_scores[:, 0]
    back = torch.zeros(L, B, L, dtype=torch.long, device=links.device)
    best_value = torch.where(end == 0, score[:, 0], torch.full_like(score[:, 0], NEG_INF))
    best_length = torch.ones(B, dtype=torch.long, device=links.device)
    for m in range(2, L + 1):  # m = number of vertices on the path
        values, back[m - 1] = (score[:, :, None] + links).max(dim=1)
        score = values + node_scores
        normalised = score[rows, end] / (m ** beta)
        better = normalised > best_value
        best_value = torch.where(better, normalised, best_value)
        best_length = torch.where(better, torch.full_like(best_length, m), best_length)
    visited = torch.full((B, L), -1, dtype=torch.long, device=links.device)
    vertex = end.clone()
    for position in range(L - 1, -1, -1):
        active = position < best_length
        visited[:, position] = torch.where(active, vertex, visited[:, position])
        if position > 0:
            vertex = torch.where(active, back[position, rows, vertex], vertex)
    return visited


def viterbi(token_logprobs, links, graph_lengths, pad: int, beta: float = 1.0) -> torch.Tensor:
    return _emit(token_logprobs, best_path_by_length(links, torch.zeros_like(links[:, 0]), graph_lengths, beta), pad)


def joint_viterbi(token_logprobs, links, graph_lengths, pad: int, beta: float = 1.0) -> torch.Tensor:
    node_scores = token_logprobs.max(-1).values
    return _emit(token_logprobs, best_path_by_length(links, node_scores, graph_lengths, beta), pad)
