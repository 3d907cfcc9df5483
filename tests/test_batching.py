import numpy as np

from diffglat.data.batching import pad_batch, token_batches


def test_each_example_once_and_budget_kept():
    lengths = np.random.default_rng(0).integers(1, 50, size=500)
    batches = token_batches(lengths, max_tokens=200, seed=1, epoch=0)
    order = np.concatenate(batches)
    assert sorted(order.tolist()) == list(range(500))
    for b in batches:
        assert len(b) == 1 or lengths[b].max() * len(b) <= 200


def test_deterministic_per_seed_and_epoch():
    lengths = np.random.default_rng(0).integers(1, 50, size=200)
    same = [np.concatenate(token_batches(lengths, 100, seed=7, epoch=2)) for _ in range(2)]
    assert (same[0] == same[1]).all()
    other = np.concatenate(token_batches(lengths, 100, seed=7, epoch=3))
    assert not (other == same[0]).all()


def test_similar_lengths_share_a_batch():
    lengths = np.array([1, 50, 2, 49, 3, 48])
    batches = token_batches(lengths, max_tokens=100, seed=0, epoch=0)
    for b in batches:
        assert np.ptp(lengths[b]) <= 2


def test_oversized_example_gets_own_batch():
    batches = token_batches(np.array([5, 500, 5]), max_tokens=20, seed=0, epoch=0, shuffle=False)
    assert [len(b) for b in batches] == [2, 1]


def test_pad_batch():
    assert pad_batch([np.array([1, 2]), np.array([3])], pad=0).tolist() == [[1, 2], [3, 0]]
