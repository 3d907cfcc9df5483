"""AR decoding: greedy and beam search, both with a key/value cache."""

from __future__ import annotations

import torch


@torch.no_grad()
def ar_greedy(model, src: torch.Tensor, max_len: int, bos: int, eos: int, use_cache: bool = True) -> torch.Tensor:
    """Left-to-right argmax until every sentence has produced EOS or max_len tokens.

    src [B, S] -> tokens [B, <=max_len] without BOS; positions after a sentence's EOS hold pad.
    use_cache=False recomputes the whole prefix at every step (the reference for the cache).
    """
    memory, memory_pad = model.encode(src)
    B = src.shape[0]
    tokens = torch.full((B, 1), bos, dtype=torch.long, device=src.device)
    finished = torch.zeros(B, dtype=torch.bool, device=src.device)
    cache = model.new_cache() if use_cache else None
    for step in range(max_len):
        if use_cache:
            logits = model.decode_step(tokens[:, -1:], step, memory, memory_pad, cache)
        else:
            logits = model.decode(tokens, memory, memory_pad).logits[:, -1]
        next_token = logits.argmax(-1).masked_fill(finished, model.pad)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
        finished |= next_token.eq(eos)
        if finished.all():
            break
    return tokens[:, 1:]


def _reorder_cache(cache: list[dict], order: torch.Tensor) -> None:
    for layer in cache:
        for part in layer.values():
            for key in part:
                part[key] = part[key].index_select(0, order)


@torch.no_grad()
def ar_beam(model, src: torch.Tensor, max_len: int, bos: int, eos: int, beam: int, length_penalty: float = 1.0):
    """Beam search with a key/value cache. src [B, S] -> (tokens [B, <=max_len], scores [B]).

    A hypothesis ends at EOS; finished hypotheses stay in the beam, extended by pad at no cost.
    The answer is the beam entry with the best log-probability / length^length_penalty (length
    including EOS). With beam=1 this is exactly greedy decoding.
    """
    B, V = src.shape[0], model.embed.num_embeddings
    memory, memory_pad = model.encode(src)
    memory, memory_pad = memory.repeat_interleave(beam, 0), memory_pad.repeat_interleave(beam, 0)  # [B*k, ...]
    cache = model.new_cache()
    tokens = torch.full((B * beam, 1), bos, dtype=torch.long, device=src.device)
    scores = torch.full((B, beam), float("-inf"), device=src.device)
    scores[:, 0] = 0.0  # all beams start identical: keep one
    finished = torch.zeros(B * beam, dtype=torch.bool, device=src.device)
    lengths = torch.zeros(B * beam, device=src.device)
    for step in range(max_len):
        logprobs = torch.log_softmax(model.decode_step(tokens[:, -1:], step, memory, memory_pad, cache).float(), -1)
        # a finished hypothesis can only continue with pad, at no cost
        frozen = torch.full_like(logprobs, float("-inf"))
        frozen[:, model.pad] = 0.0
        logprobs = torch.where(finished[:, None], frozen, logprobs)
        candidates = (scores.view(-1, 1) + logprobs).view(B, beam * V)
        scores, flat = candidates.topk(beam, dim=-1)  # [B, k]
        origin = (flat // V + torch.arange(B, device=src.device)[:, None] * beam).view(-1)
        next_token = (flat % V).view(-1)
        _reorder_cache(cache, origin)
        tokens = torch.cat([tokens.index_select(0, origin), next_token[:, None]], dim=1)
        was_finished = finished.index_select(0, origin)
        lengths = lengths.index_select(0, origin) + (~was_finished).float()
        finished = was_finished | next_token.eq(eos)
        if finished.all():
            break
    normalised = scores / lengths.view(B, beam).clamp(min=1) ** length_penalty
    best = normalised.argmax(-1) + torch.arange(B, device=src.device) * beam
    return tokens[best, 1:], scores.view(-1)[best]
