"""pycocoevalcap's scorers as diffglat.metrics.coco calls them, on hand-made cases with known values."""

import pytest

from diffglat.metrics import coco
from diffglat.metrics.coco import coco_scores

CAPTIONS = ["a man rides a brown horse on the beach", "two dogs play with a red ball in the park"]


def test_identical_captions_score_full_marks_and_cider_its_maximum():
    scores = coco_scores(CAPTIONS, [[c] for c in CAPTIONS])
    assert scores["bleu4"] == pytest.approx(100) and scores["rouge_l"] == pytest.approx(100)
    # CIDEr-D: 10 x the mean over n = 1..4 of cosine similarities, each 1 for an identical caption
    assert scores["cider"] == pytest.approx(1000)
    assert 90 < scores["meteor"] <= 100  # METEOR's fragmentation penalty is small but never zero


def test_disjoint_captions_score_zero():
    scores = coco_scores(["purple elephants sing opera loudly"] * 2, [[c] for c in CAPTIONS])
    assert scores == pytest.approx({"bleu4": 0, "meteor": 0, "rouge_l": 0, "cider": 0}, abs=1e-6)


def test_each_hypothesis_is_scored_against_all_references_of_its_item():
    # one reference of item 0 is the hypothesis: full ROUGE-L, first or last, whatever the other says
    hypotheses = ["a man rides a horse", "a dog runs"]
    alone = coco_scores(hypotheses, [["a woman walks"], ["a dog runs"]], metrics=("rouge_l",))
    for references in (["a woman walks", "a man rides a horse"], ["a man rides a horse", "a woman walks"]):
        several = coco_scores(hypotheses, [references, ["a dog runs"]], metrics=("rouge_l",))
        assert several["rouge_l"] == pytest.approx(100)
    # item 0 alone: LCS "a" of 5 and 3 tokens: P = 1/5, R = 1/3, F(beta 1.2) = (1 + 1.44) P R / (R + 1.44 P)
    p, r = 1 / 5, 1 / 3
    assert alone["rouge_l"] == pytest.approx(100 * (1 + ((1 + 1.44) * p * r / (r + 1.44 * p))) / 2)


def test_the_ptb_tokenizer_lowercases_and_drops_punctuation():
    assert coco_scores(["A man, riding a Horse!"], [["a man riding a horse"]], metrics=("bleu4",))["bleu4"] == (
        pytest.approx(100))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="2 hypotheses for 1 reference sets"):
        coco_scores(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="item 1 has no reference"):
        coco_scores(["a", "b"], [["a"], []])
    with pytest.raises(ValueError, match="unknown COCO metric 'spice'"):
        coco_scores(["a"], [["a"]], metrics=("spice",))


def test_without_java_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(coco.shutil, "which", lambda name: None)
    with pytest.raises(coco.JavaMissing, match="default-jre-headless"):
        coco_scores(["a"], [["a"]])


def test_an_empty_hypothesis_scores_zero_and_keeps_the_others_in_place():
    scores = coco_scores(["", CAPTIONS[1]], [[CAPTIONS[0]], [CAPTIONS[1]]], metrics=("meteor", "rouge_l"))
    assert scores["rouge_l"] == pytest.approx(50)
    assert 0 < scores["meteor"] < 100  # corpus-level: pooled matches, not a mean of the two
