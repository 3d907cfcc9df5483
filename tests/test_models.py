"""Transformer AR and NAT behaviour that must hold whatever the weights."""

import numpy as np
import pytest
import torch

from diffglat.decoding import ar_beam, ar_greedy, nat_argmax
from diffglat.models.nat import uniform_copy_index

from helpers import tiny_dataset, tiny_model


def test_uniform_copy_index():
    idx = uniform_copy_index(torch.tensor([3, 4, 5]), torch.tensor([6, 4, 2]), 6)
    assert idx[0].tolist() == [0, 0, 1, 1, 2, 2]
    assert idx[1].tolist()[:4] == [0, 1, 2, 3]
    assert idx[2].tolist()[:2] == [0, 2]


def test_ar_decoder_is_causal():
    torch.manual_seed(0)
    dataset, _, d = tiny_dataset(4)
    model = tiny_model("ar", d).eval()
    batch = dataset.collate(np.arange(4))
    changed = batch["prev_output_tokens"].clone()
    changed[:, 4:] = d.unk
    a = model(batch["src"], batch["prev_output_tokens"]).logits
    b = model(batch["src"], changed).logits
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6)
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_padding_does_not_change_outputs():
    torch.manual_seed(0)
    dataset, _, d = tiny_dataset(2)
    model = tiny_model("nat", d).eval()
    batch = dataset.collate(np.arange(2))
    src = batch["src"][:1]
    padded = torch.cat([src, torch.full((1, 3), d.pad)], dim=1)
    lengths = batch["tgt_lengths"][:1]
    assert torch.allclose(model(src, lengths).logits, model(padded, lengths).logits, atol=1e-5)


def test_nat_returns_requested_layers_through_shared_projection():
    torch.manual_seed(0)
    dataset, _, d = tiny_dataset(3)
    model = tiny_model("nat", d).eval()
    batch = dataset.collate(np.arange(3))
    out = model(batch["src"], batch["tgt_lengths"], output_layers=(1, 2))
    assert set(out.logits_at) == {1, 2}
    assert out.logits_at[1].shape == (3, 6, len(d))
    assert not torch.allclose(out.logits_at[1], out.logits_at[2])
    tokens = nat_argmax(model, batch["src"], batch["tgt_lengths"], (1, 2))
    assert torch.equal(tokens[2], out.logits_at[2].argmax(-1))


def random_ar(seed, n):
    """An untrained tiny AR model in eval mode, its dictionary and n sources [n, S]."""
    torch.manual_seed(seed)
    dataset, _, d = tiny_dataset(n)
    return tiny_model("ar", d).eval(), d, dataset.collate(np.arange(n))["src"]


def test_greedy_is_consistent_with_teacher_forced_argmax():
    model, d, src = random_ar(1, 5)
    hyp = ar_greedy(model, src, max_len=8, bos=d.bos, eos=d.eos)
    for row in range(5):
        tokens = hyp[row].tolist()
        if d.eos in tokens:
            tokens = tokens[: tokens.index(d.eos) + 1]
        prev = torch.tensor([[d.bos] + tokens[:-1]])
        argmax = model(src[row : row + 1], prev).logits.argmax(-1)[0].tolist()
        assert argmax == tokens


def test_cached_greedy_equals_uncached_and_beam_one_equals_greedy():
    model, d, src = random_ar(2, 16)
    cached = ar_greedy(model, src, max_len=9, bos=d.bos, eos=d.eos)
    uncached = ar_greedy(model, src, max_len=9, bos=d.bos, eos=d.eos, use_cache=False)
    assert torch.equal(cached, uncached)
    beam_one, _ = ar_beam(model, src, max_len=9, bos=d.bos, eos=d.eos, beam=1)
    assert torch.equal(beam_one[:, : cached.shape[1]], cached)


@torch.no_grad()
def sequence_logprob(model, src, tokens, bos):
    prev = torch.cat([torch.tensor([[bos]]), tokens[None, :-1]], 1)
    logprobs = torch.log_softmax(model(src[None], prev).logits[0], -1)
    return float(logprobs.gather(1, tokens[:, None]).sum())


def test_beam_finds_a_sequence_at_least_as_likely_as_greedy():
    model, d, src = random_ar(3, 8)
    greedy = ar_greedy(model, src, max_len=6, bos=d.bos, eos=d.eos)
    beam, scores = ar_beam(model, src, max_len=6, bos=d.bos, eos=d.eos, beam=5, length_penalty=0.0)
    for b in range(8):
        def trim(row):
            return row[: (row == d.eos).nonzero()[0, 0] + 1] if (row == d.eos).any() else row[row != d.pad]
        g, k = trim(greedy[b]), trim(beam[b])
        assert sequence_logprob(model, src[b], k, d.bos) == pytest.approx(float(scores[b]), abs=1e-4)
        assert float(scores[b]) >= sequence_logprob(model, src[b], g, d.bos) - 1e-4
