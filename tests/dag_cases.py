"""Random DAG inputs for the DAG loss, shared by tests/test_dag.py and benchmarks/dag_loss.py: masked
link and match tensors, and graphs peaked the way trained models are (scaled logits, confident paths)."""

import torch

NEG_INF = float("-inf")


def masked_links(raw, graph_lengths):
    """Log-softmax over j > i within each graph; -inf elsewhere (also on rows with no successor)."""
    B, L, _ = raw.shape
    i, j = torch.arange(L)[:, None], torch.arange(L)[None, :]
    allowed = (j > i)[None] & (j[None] < graph_lengths[:, None, None])
    logits = raw.masked_fill(~allowed, NEG_INF)
    has_successor = allowed.any(-1, keepdim=True)
    return torch.where(has_successor, torch.log_softmax(logits.masked_fill(~has_successor, 0.0), -1), NEG_INF)


def masked_match(raw, target_lengths, graph_lengths):
    B, T, L = raw.shape
    valid = (torch.arange(T)[None, :, None] < target_lengths[:, None, None]) & (torch.arange(L)[None, None, :] < graph_lengths[:, None, None])
    return raw.masked_fill(~valid, NEG_INF)


def random_path(g, length, vertices):
    """A random vertex sequence 0 = a_0 < ... < a_{length-1} = vertices - 1."""
    middle = torch.randperm(vertices - 2, generator=g)[: length - 2].sort().values + 1
    return torch.cat([torch.tensor([0]), middle, torch.tensor([vertices - 1])])


def peaked_dag(B, T, L, scale=1.0, gold=0.0, wrong=0.0, V=16, ragged=True, seed=0):
    """float32 DAGs [B, T, L] / [B, L, L], ragged (sentence 0 full; else every target T long on L vertices) from logits and link logits ~ N(0, scale^2) (float64, then rounded).

    gold > 0 raises the links and target emissions of one path per sentence by gold; wrong > 0 raises
    the links of another path and, on its vertices, a token other than the target: a confident
    path away from the target.
    """
    g = torch.Generator().manual_seed(seed)
    if ragged:
        tl = torch.randint(T // 2, T + 1, (B,), generator=g)
        tl[0] = T
        gl = torch.stack([torch.randint(int(t), L + 1, (1,), generator=g)[0] for t in tl])
        gl[0] = L
    else:
        tl, gl = torch.full((B,), T), torch.full((B,), L)
    raw_links = torch.randn(B, L, L, generator=g, dtype=torch.float64) * scale
    logits = torch.randn(B, L, V, generator=g, dtype=torch.float64) * scale
    target = torch.randint(0, V, (B, T), generator=g)
    for b in range(B):
        t, n = int(tl[b]), int(gl[b])
        for bonus, token in ((gold, target[b, :t]), (wrong, (target[b, :t] + 1) % V)):
            if bonus:
                path = random_path(g, t, n)
                raw_links[b, path[:-1], path[1:]] += bonus
                logits[b, path, token] += bonus
    match = torch.log_softmax(logits, -1).gather(-1, target[:, None, :].expand(B, L, T)).transpose(1, 2)
    return masked_match(match, tl, gl).float(), masked_links(raw_links, gl).float(), tl, gl
