"""Accuracy against the closest valid target, on hand-computed cases (N = 10, L = 4)."""

import numpy as np
import pytest

from diffglat.metrics.synthetic import closest_target_scores

SOURCE = np.array([[1, 2, 3, 4]])
# Valid targets: I 11 22 13 24 / II 21 12 23 14 / III 31 42 33 44 / IV 41 32 43 34


def score(hyp):
    return closest_target_scores([hyp], SOURCE, 10)


def test_exact_modality_three():
    s = score([31, 42, 33, 44])
    assert s["token_accuracy"] == 100 and s["sequence_accuracy"] == 100
    assert s["modality_distribution"]["III"] == 100


def test_mixed_output_scored_against_closest():
    # positions 1-3 from modality I, position 4 from II: closest is I with 3/4 right.
    s = score([11, 22, 13, 14])
    assert s["token_accuracy"] == 75 and s["sequence_accuracy"] == 0
    assert s["modality_distribution"]["I"] == 100


def test_tie_is_split_and_no_match_counted():
    s = closest_target_scores([[11, 12, 99, 99], [5, 5, 5, 5]], np.repeat(SOURCE, 2, 0), 10)
    # sentence 1: one position of I, one of II -> 1/4 right, half I half II; sentence 2 matches nothing
    assert s["token_accuracy"] == pytest.approx(100 * 1 / 8)
    assert s["modality_distribution"]["I"] == 25 and s["modality_distribution"]["II"] == 25
    assert s["modality_distribution"]["none"] == 50


def test_wrong_length():
    short, long = score([11, 22, 13]), score([11, 22, 13, 24, 5])
    assert short["token_accuracy"] == 75 and short["sequence_accuracy"] == 0
    assert long["token_accuracy"] == 100 and long["sequence_accuracy"] == 0


def test_count_mismatch_rejected():
    with pytest.raises(ValueError):
        closest_target_scores([[1], [2]], SOURCE, 10)


def test_reference_accuracy_uses_own_reference_not_closest():
    from diffglat.metrics.synthetic import reference_token_accuracy

    own = np.array([[21, 12, 23, 14]])  # modality II reference
    assert reference_token_accuracy([[11, 22, 13, 24]], own) == 0  # a perfect modality-I output
    assert reference_token_accuracy([[21, 12, 13, 24]], own) == 50
    assert reference_token_accuracy([[21, 12]], own) == 50
