"""Glancing sampling and CTC alignment against their definitions and brute force."""

import itertools

import pytest
import torch

from diffglat.alignment import ctc_best_alignment
from diffglat.losses.ctc import ctc_loss
from diffglat.models.glancing import glance_count, glancing_mask, linear_ratio


def test_glance_count_is_floor_of_ratio_times_hamming_distance():
    target = torch.tensor([[5, 6, 7, 8, 9], [5, 6, 7, 0, 0]])
    prediction = torch.tensor([[5, 1, 1, 1, 9], [1, 1, 1, 4, 4]])  # distances 3 and 3 (pads ignored)
    pad = target == 0
    assert glance_count(prediction, target, pad, 0.5).tolist() == [1, 1]
    assert glance_count(prediction, target, pad, 0.7).tolist() == [2, 2]
    assert glance_count(prediction, target, pad, 1.0).tolist() == [3, 3]


def test_mask_picks_exactly_the_count_among_allowed_positions():
    g = torch.Generator().manual_seed(0)
    allowed = torch.rand(64, 12, generator=g) < 0.6
    counts = torch.randint(0, 13, (64,), generator=g)
    mask = glancing_mask(allowed, counts, g)
    assert not (mask & ~allowed).any()
    assert torch.equal(mask.sum(-1), torch.minimum(counts, allowed.sum(-1)))


def test_mask_is_uniform_over_allowed_positions():
    g = torch.Generator().manual_seed(1)
    allowed = torch.tensor([[True, False, True, True, False, True]]).expand(20000, -1)
    mask = glancing_mask(allowed, torch.full((20000,), 2), g)
    frequency = mask.float().mean(0)
    assert torch.allclose(frequency[allowed[0]], torch.full((4,), 0.5), atol=0.02)
    assert (frequency[~allowed[0]] == 0).all()


def test_linear_ratio_schedule():
    assert linear_ratio(0, 100, 0.5, 0.3) == 0.5
    assert linear_ratio(50, 100, 0.5, 0.3) == pytest.approx(0.4)
    assert linear_ratio(500, 100, 0.5, 0.3) == pytest.approx(0.3)


def collapse(labels, blank):
    out = []
    for i, x in enumerate(labels):
        if x != blank and (i == 0 or labels[i - 1] != x):
            out.append(x)
    return out


@pytest.mark.parametrize("target, S", [([1, 2], 4), ([1, 1], 4), ([3], 5), ([2, 3, 2], 5), ([1, 1], 3), ([1, 1, 1], 4)])
def test_ctc_best_alignment_and_loss_equal_brute_force(target, S):
    V, blank = 4, 0
    g = torch.Generator().manual_seed(S * 10 + len(target))
    log_probs = torch.log_softmax(torch.randn(1, S, V, generator=g, dtype=torch.float64) * 2, -1)
    scores = {labels: float(sum(log_probs[0, s, x] for s, x in enumerate(labels)))
              for labels in itertools.product(range(V), repeat=S) if collapse(labels, blank) == target}
    targets, lengths = torch.tensor([target]), torch.tensor([len(target)])
    alignment = ctc_best_alignment(log_probs, torch.tensor([S]), targets, lengths, blank)[0].tolist()
    if not scores:  # e.g. "1 1" needs a blank between the repeats: 3 frames suffice, fewer do not
        assert alignment == [-1] * S
        return
    assert collapse(alignment, blank) == target
    assert scores[tuple(alignment)] == pytest.approx(max(scores.values()), abs=1e-12)
    expected = -torch.logsumexp(torch.tensor(list(scores.values()), dtype=torch.float64), 0) / len(target)
    assert float(ctc_loss(log_probs, torch.tensor([S]), targets, lengths, blank)) == pytest.approx(float(expected), abs=1e-9)


def test_ctc_alignment_batched_with_padding():
    g = torch.Generator().manual_seed(7)
    log_probs = torch.log_softmax(torch.randn(2, 6, 5, generator=g, dtype=torch.float64), -1)
    targets = torch.tensor([[1, 2, 3], [4, 0, 0]])
    alignment = ctc_best_alignment(log_probs, torch.tensor([6, 4]), targets, torch.tensor([3, 1]), blank=0)
    assert collapse(alignment[0].tolist(), 0) == [1, 2, 3]
    assert collapse([x for x in alignment[1].tolist() if x >= 0], 0) == [4]
    assert alignment[1, 4:].tolist() == [-1, -1]


def tiny_glat(ratio):
    from helpers import TINY_MODEL, tiny_dataset

    from diffglat.models import GlancingNAT

    dataset, _, d = tiny_dataset(16)
    model = GlancingNAT(glance_start=ratio, glance_end=ratio, glance_steps=1, vocab_size=len(d), pad=d.pad, **TINY_MODEL)
    return model, dataset.collate(torch.arange(16).numpy()), d


def test_glat_glances_floor_ratio_times_distance_and_drops_them_from_the_loss():
    import torch.nn.functional as F

    from diffglat.losses import LayerwiseCrossEntropy

    torch.manual_seed(0)
    model, batch, d = tiny_glat(0.5)
    model.eval()  # no dropout: pass 1 can be recomputed here
    first = model(batch["src"], batch["tgt_lengths"]).logits.argmax(-1)
    distance = (first != batch["tgt"]).sum(-1)
    output = model.forward_batch(batch, (2,))
    assert torch.equal(output.glanced.sum(-1), torch.floor(distance * 0.5).long())
    loss, _ = LayerwiseCrossEntropy({2: "tgt"}, 0.0, d.pad)(output, batch)
    kept = ~output.glanced
    expected = F.cross_entropy(output.logits[kept], batch["tgt"][kept])
    assert torch.isclose(loss, expected)


def test_glat_second_pass_reuses_the_first_pass_dropout():
    torch.manual_seed(1)
    model, batch, _ = tiny_glat(0.0)  # nothing glanced: pass 2 must equal pass 1 exactly
    model.train()
    rng = torch.get_rng_state()
    with torch.no_grad():
        first = model(batch["src"], batch["tgt_lengths"]).logits
        torch.set_rng_state(rng)
        second = model.forward_batch(batch, (2,))
    assert not second.glanced.any()
    assert torch.equal(first, second.logits)
