"""The generator of paper Table 1 / appendix A."""

import numpy as np
import pytest
import yaml

from diffglat.data import synthetic as syn


def test_every_target_obeys_exactly_one_modality_rule():
    split = syn.generate(400, 32, 5000, np.random.default_rng(0))
    candidates = syn.all_targets(split.source, 5000)  # [n, 4, L]
    obeyed = (candidates == split.target[:, None, :]).all(-1)  # [n, 4]
    assert (obeyed.sum(1) == 1).all()
    assert (obeyed.argmax(1) == split.modality).all()


def test_rules_match_table1_definitions():
    # Table 1 with N = 5000: odd (1-based) positions / even positions.
    offsets = {0: (5000, 10000), 1: (10000, 5000), 2: (15000, 20000), 3: (20000, 15000)}
    source = np.arange(1, 9)[None, :]
    for modality, (odd, even) in offsets.items():
        target = syn.apply_modality(source, np.array([modality]), 5000)[0]
        assert target[0::2].tolist() == (source[0, 0::2] + odd).tolist()
        assert target[1::2].tolist() == (source[0, 1::2] + even).tolist()


def test_paper_example_is_reproduced_exactly(repo):
    paper = yaml.safe_load((repo / "diffglat/report/paper_numbers.yaml").read_text())["table1"]
    targets = syn.all_targets(np.array([syn.PAPER_EXAMPLE_SOURCE]), 5000)[0]
    assert list(syn.PAPER_EXAMPLE_SOURCE) == paper["example_source"]
    for i, name in enumerate(syn.MODALITY_NAMES):
        assert targets[i].tolist() == paper["example_targets"][name]


@pytest.mark.parametrize("n", [4, 401, 1000])
def test_modalities_are_balanced_and_sources_in_range(n):
    split = syn.generate(n, 32, 100, np.random.default_rng(1))
    counts = np.bincount(split.modality, minlength=4)
    assert counts.max() - counts.min() <= 1 and counts.sum() == n
    assert split.source.min() >= 1 and split.source.max() <= 100


def test_sources_are_uniform_over_the_range():
    split = syn.generate(2000, 32, 10, np.random.default_rng(2))
    frequencies = np.bincount(split.source.ravel(), minlength=11)[1:] / split.source.size
    assert np.allclose(frequencies, 0.1, atol=0.01)


def test_generation_is_deterministic_per_seed():
    a = syn.generate_splits({"train": 50, "test": 10}, 8, 20, seed=3)
    b = syn.generate_splits({"train": 50, "test": 10}, 8, 20, seed=3)
    assert all((a[k].target == b[k].target).all() for k in a)


def test_merged_targets_keep_two_modalities():
    assert [syn.MODALITY_NAMES[m] for m in syn.MERGED_MODALITY] == ["II", "II", "IV", "IV"]


def test_split_round_trip(tmp_path):
    split = syn.generate(20, 6, 30, np.random.default_rng(4))
    syn.write_split(split, tmp_path / "s.tsv")
    back = syn.read_split(tmp_path / "s.tsv", 30)
    assert (back.source == split.source).all() and (back.modality == split.modality).all()


def test_bad_line_is_named(tmp_path):
    split = syn.generate(3, 4, 30, np.random.default_rng(5))
    syn.write_split(split, tmp_path / "s.tsv")
    lines = (tmp_path / "s.tsv").read_text().splitlines()
    lines[2] = lines[2].rsplit(" ", 1)[0] + " 1"  # break the last target number of pair 2
    (tmp_path / "s.tsv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"s\.tsv:3: target does not follow modality"):
        syn.read_split(tmp_path / "s.tsv", 30)


def test_collate_framings():
    split = syn.generate(4, 5, 10, np.random.default_rng(6))
    d = syn.dictionary(10)
    batch = syn.SyntheticDataset(split, d, 10).collate(np.arange(4))
    assert (batch["src"][:, -1] == d.eos).all() and (batch["tgt_eos"][:, -1] == d.eos).all()
    assert (batch["prev_output_tokens"][:, 0] == d.bos).all()
    assert (batch["prev_output_tokens"][:, 1:] == batch["tgt"]).all()
    numbers = syn.from_ids(batch["tgt"].numpy(), d)
    assert (numbers == split.target).all()
    merged = syn.from_ids(batch["tgt_merged"].numpy(), d)
    assert (merged == syn.apply_modality(split.source, syn.MERGED_MODALITY[split.modality], 10)).all()
