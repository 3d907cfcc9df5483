"""Alignments between a DA-Transformer graph and a target: what models (glancing, MDP targets),
losses (the DAG loss) and decoding all need, below all three.

Shapes: B batch, T target length (max), L vertices (max), V vocabulary. A target y_0..y_{T-1} is
BOS y EOS (`dag_target`); match[b, k, j] = log p(y_k | vertex j) (`dag_match`, -inf at padding).
"""

from __future__ import annotations

import torch

NEG_INF = float("-inf")


class TargetLogProbs(torch.autograd.Function):
    """match[b, k, j] = log p(target[b, k] | vertex j) from logits, without autograd's generic backward.

    Same values as log_softmax(logits).gather(target), but the backward is one pass: the gradient
    -softmax x (sum over k of the match gradient) is formed in place in the saved log-probs, then the
    match gradient is scatter-added at the targets. Autograd's version runs log_softmax's backward
    and zero-fills a fresh [B, L, V] tensor for the gather's: on 2 CPU threads (B=64, L=64,
    V=6000) it takes ~1.8x as long. gather - logsumexp(logits) is slower still there, as
    torch.logsumexp is not fused on CPU. The backward consumes the saved tensor: it runs once.
    """

    @staticmethod
    def forward(ctx, logits, index):
        # logits [B, L, V] float, index [B, L, T] (the target, expanded over vertices) -> [B, L, T]
        log_probs = torch.log_softmax(logits, dim=-1)
        ctx.save_for_backward(log_probs, index)
        return log_probs.gather(-1, index)

    @staticmethod
    def backward(ctx, grad_output):
        if getattr(ctx, "consumed", False):
            raise RuntimeError("TargetLogProbs reuses its saved tensor in backward: no second backward")
        ctx.consumed = True
        log_probs, index = ctx.saved_tensors
        grad = log_probs.exp_().mul_(-grad_output.sum(-1, keepdim=True))
        return grad.scatter_add_(-1, index, grad_output), None


def target_log_probs(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log p(target[b, k] | vertex j): logits [B, L, V], target [B, T] -> match [B, T, L] (float32 at least)."""
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    index = target[:, None, :].expand(-1, logits.shape[1], -1).contiguous()
    return TargetLogProbs.apply(logits, index).transpose(1, 2)


def dag_match(logits, target, pad: int, graph_pad) -> torch.Tensor:
    """match [B, T, L] of target [B, T] (padded with pad) on logits [B, L, V]; -inf at padding."""
    match = target_log_probs(logits, target)
    return match.masked_fill(target.eq(pad)[:, :, None] | graph_pad[:, None, :], NEG_INF)


def force_alignment(match: torch.Tensor, forced: torch.Tensor) -> torch.Tensor:
    """Pin glanced target positions to their vertices (glancing on a DAG, Huang et al. 2022).

    match [B, T, L]; forced [B, L], the target position each glanced vertex emitted as decoder
    input, -1 for the others. Row k of a glanced position becomes 0 at its vertex and -inf
    elsewhere, as in the reference DA-Transformer (`_force_aligment`): every path goes through the
    vertex at step k, and the glanced token, which the model was shown, costs nothing. No other
    position can use that vertex anyway, since a path's vertices strictly increase.
    """
    positions = torch.arange(match.shape[1], device=match.device)
    pins = forced[:, None, :] == positions[None, :, None]  # [B, T, L]
    pinned = pins.any(-1, keepdim=True)  # [B, T, 1]
    return torch.where(pinned, torch.zeros_like(match).masked_fill(~pins, NEG_INF), match)


@torch.no_grad()
def dag_best_alignment(match, links, target_lengths, graph_lengths) -> torch.Tensor:
    """Viterbi: the single most probable path emitting the target. Returns vertices [B, T] (-1 past T_b).

    Used for glancing on the best path and for DiffGLAT's intermediate targets. Rows with no
    feasible path return -1 everywhere.
    """
    B, T, L = match.shape
    best = torch.where(torch.arange(L, device=match.device) == 0, match[:, 0], torch.full_like(match[:, 0], NEG_INF))
    back = torch.zeros(T, B, L, dtype=torch.long, device=match.device)
    history = [best]
    for k in range(1, T):
        values, back[k] = (best[:, :, None] + links).max(dim=1)  # over the previous vertex i
        best = values + match[:, k]
        history.append(best)
    rows = torch.arange(B, device=match.device)
    final = torch.stack(history)[target_lengths - 1, rows, graph_lengths - 1]  # [B]
    path = torch.full((B, T), -1, dtype=torch.long, device=match.device)
    vertex = graph_lengths - 1
    for k in range(T - 1, -1, -1):
        active = (k <= target_lengths - 1) & torch.isfinite(final)
        path[:, k] = torch.where(active, vertex, path[:, k])
        vertex = torch.where(active, back[k, rows, vertex], vertex)
    return path


def dag_target(tgt_eos: torch.Tensor, bos: int) -> torch.Tensor:
    """The sequence a DAG emits: target + EOS [B, T] -> BOS target EOS [B, T + 1]."""
    return torch.cat([torch.full_like(tgt_eos[:, :1], bos), tgt_eos], dim=1)
