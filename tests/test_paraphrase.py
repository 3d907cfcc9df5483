"""Paraphrasing (Table 5): JSON corpora, one-language benchmarks with named sides, deduplication and
the cross-side test-overlap filter (brute force on a tiny corpus, and on the real QQP files), the
paraphrase study's config, and Table 5 from score files."""

import gzip
import json
from pathlib import Path

import pytest
import yaml

from diffglat import cli
from diffglat.config import ConfigError, load_config
from diffglat.data.benchmarks import resolve_benchmark, selected_benchmarks, study_of
from diffglat.data.corpus import read_json_pairs, read_lines
from diffglat.data.indexed import load_split
from diffglat.data.text import normalise, tokenise
from diffglat.report.paraphrase import table5_cells, table5_tex
from diffglat.report.outputs import packaged_yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def write_yaml(path: Path, settings: dict) -> Path:
    path.write_text(yaml.safe_dump(settings))
    return path


def write_json(path: Path, records, lines: bool) -> None:
    text = "".join(json.dumps(r) + "\n" for r in records) if lines else json.dumps(records)
    path.write_bytes(gzip.compress(text.encode()))


# ---- JSON corpora -----------------------------------------------------------------------------
def test_json_lists_and_json_lines_give_their_fields_in_order(tmp_path):
    write_json(tmp_path / "a.json.gz", [{"q": "one", "p": "1", "id": 3}, {"q": "two", "p": "2"}], lines=False)
    write_json(tmp_path / "b.jsonl.gz", [{"src": "x", "trg": "y"}, {"src": "z\r\nz", "trg": "w\u2028w"}], lines=True)
    assert list(read_json_pairs(tmp_path / "a.json.gz", "q", "p")) == [("one", "1"), ("two", "2")]
    # a line break in a field becomes a space (one sentence per line downstream); U+2028 is no line break here
    assert list(read_json_pairs(tmp_path / "b.jsonl.gz", "src", "trg")) == [("x", "y"), ("z z", "w\u2028w")]


def test_bad_json_records_name_the_file_and_the_record(tmp_path):
    write_json(tmp_path / "a.jsonl.gz", [{"src": "x", "trg": "y"}, {"src": "z"}], lines=True)
    with pytest.raises(ValueError, match=r"a.jsonl.gz:2: no text field 'trg'"):
        list(read_json_pairs(tmp_path / "a.jsonl.gz", "src", "trg"))
    write_json(tmp_path / "b.json.gz", [{"q": "x", "p": "y"}, {"q": 5, "p": "y"}], lines=False)
    with pytest.raises(ValueError, match=r"b.json.gz: record 1: no text field 'q'"):
        list(read_json_pairs(tmp_path / "b.json.gz", "q", "p"))
    (tmp_path / "c.jsonl").write_text('{"src": "x", "trg": "y"}\n{"src": \n')
    with pytest.raises(ValueError, match=r"c.jsonl:2: not valid JSON"):
        list(read_json_pairs(tmp_path / "c.jsonl", "src", "trg"))
    (tmp_path / "d.json").write_text('{"src": "x"}')
    with pytest.raises(ValueError, match=r"d.json: a JSON corpus must be a list of records, got dict"):
        list(read_json_pairs(tmp_path / "d.json", "src", "trg"))


# ---- a one-language benchmark ------------------------------------------------------------------
HELD_OUT = {"valid": [("How do I learn Python?", "What is the best way to learn Python?")],
            "test": [("Why is the sky blue?", "What makes the sky blue?")]}
TRAIN = [("How do I learn Python?", "How can I learn Python fast?"),       # source is a valid source
         ("Is Python hard?", "What makes the sky blue?"),                  # target is a test target
         ("What is the best way to learn Python?", "Python tips?"),        # source is a valid *target*
         ("Is Java hard?", "Is Java difficult?"),
         ("Is Java  hard?", "Is Java difficult?"),                         # a repeat once normalised
         ("Is Java difficult?", "Is Java hard?"),                          # the reverse pair: kept
         ("Is Java hard?", "Is Java difficult?")]                          # a repeat


def tiny_paraphrase_config(tmp_path: Path, study: str = "paraphrase", **entry) -> list:
    root = tmp_path / "shared" / "para"
    root.mkdir(parents=True)
    write_json(root / "train.json.gz", [{"a": s, "b": t} for s, t in TRAIN * 20], lines=False)
    for split, pairs in HELD_OUT.items():
        write_json(root / f"{split}.jsonl.gz", [{"src": s, "trg": t} for s, t in pairs * 3], lines=True)
    benchmark = {"source": "en", "target": "en", "sides": ["src", "tgt"], "deduplicate": True, "vocab_size": 300,
                 "train": [{"file": "{shared_data}/para/train.json.gz", "source": "a", "target": "b"}],
                 "valid": [{"file": "{shared_data}/para/valid.jsonl.gz", "source": "src", "target": "trg"}],
                 "test": {"test": [{"file": "{shared_data}/para/test.jsonl.gz", "source": "src", "target": "trg"}]},
                 **entry}
    return [REPO / "config/config.yaml", write_yaml(tmp_path / "para.yaml", {
        "paths": {"shared_data": str(tmp_path / "shared"), "data": str(tmp_path / "data")},
        "prepare": {"benchmarks": []}, study: {"benchmarks": ["para"]},
        "benchmarks": {"para": benchmark}})]


def test_a_one_language_benchmark_must_name_its_sides(tmp_path):
    config = load_config(tiny_paraphrase_config(tmp_path))
    del config["benchmarks"]["para"]["sides"]
    with pytest.raises(ConfigError, match=r"benchmarks.para.target: the target side's file suffix must differ"):
        resolve_benchmark(config, "para")


def test_paraphrase_training_drops_repeats_and_every_pair_sharing_a_held_out_sentence_on_either_side(tmp_path):
    configs = tiny_paraphrase_config(tmp_path)
    config = load_config(configs)
    assert selected_benchmarks(config) == ["multi30k_en_de", "para"] and study_of(config, "para") == "paraphrase"
    assert cli.main(["prepare", "--config", *map(str, configs), "--benchmark", "para"]) == 0
    out = tmp_path / "data/prepared/para"
    stats = json.loads((out / "stats.json").read_text())
    train = stats["splits"]["train"]
    # Counted by hand: 20 copies of 7 pairs; 3 share a held-out sentence (one only across sides),
    # and of the other 4 x 20 only the 2 distinct pairs (once tokenised) are kept, once each.
    assert train == {**train, "pairs_read": 140, "dropped_overlap": 60, "dropped_duplicate": 78, "pairs": 2}
    # The valid target occurs in train as a source: counted too.
    assert stats["train_overlap"] == {"valid": {"src": 3, "tgt": 3}, "test": {"src": 0, "tgt": 3}}
    assert list(read_lines(out / "train.tok.src")) == ["Is Java hard ?", "Is Java difficult ?"]
    assert list(read_lines(out / "train.tok.tgt")) == ["Is Java difficult ?", "Is Java hard ?"]
    assert len(load_split(out, "test", "src", "tgt")) == 3  # held-out sets are neither filtered nor deduplicated


def test_two_languages_ban_a_held_out_sentence_on_its_own_side_only(tmp_path):
    """The same corpus as a translation benchmark (en -> de): a train source equal to a valid
    *target* is not a leak of the source side, so that pair stays."""
    configs = tiny_paraphrase_config(tmp_path, study="translation", target="de")
    config = load_config(configs)
    assert study_of(config, "para") == "translation"
    assert cli.main(["prepare", "--config", *map(str, configs), "--benchmark", "para"]) == 0
    stats = json.loads((tmp_path / "data/prepared/para/stats.json").read_text())
    assert stats["splits"]["train"] == {**stats["splits"]["train"], "dropped_overlap": 40, "dropped_duplicate": 97,
                                        "pairs": 3}
    assert stats["train_overlap"] == {"valid": {"src": 3, "tgt": 0}, "test": {"src": 0, "tgt": 3}}


def test_a_benchmark_in_both_studies_is_rejected(tmp_path):
    configs = tiny_paraphrase_config(tmp_path)
    with pytest.raises(ConfigError, match=r"paraphrase.benchmarks: 'para' is also in translation.benchmarks"):
        load_config([*configs, write_yaml(tmp_path / "both.yaml", {"translation": {"benchmarks": ["para"]}})])


# ---- the real QQP ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def qqp(tmp_path_factory):
    """data/prepared/qqp from the shipped files, as the default config prepares it (small vocabulary)."""
    tmp = tmp_path_factory.mktemp("qqp")
    override = write_yaml(tmp / "override.yaml", {"paths": {"data": str(tmp / "data"), "shared_data": str(SHARED)},
                                                  "benchmarks": {"qqp": {"vocab_size": 1000}}})
    assert cli.main(["prepare", "--config", str(REPO / "config/config.yaml"), str(override), "--benchmark", "qqp",
                     "--threads", "2"]) == 0
    return tmp / "data" / "prepared" / "qqp"


def test_qqp_training_pairs_share_no_question_with_valid_or_test(qqp):
    stats = json.loads((qqp / "stats.json").read_text())
    train = stats["splits"]["train"]
    # DiffuSeq's splits as shipped; 90,000 raw items of 60,000 distinct pairs
    assert stats["splits"]["valid"]["pairs"] == 2048 and stats["splits"]["qqp_test"]["pairs"] == 2500
    assert train["pairs_read"] == 90000
    # the figures config/README.md quotes
    assert (train["dropped_duplicate"], train["dropped_overlap"], train["pairs"]) == (23661, 19129, 47210)
    assert train["pairs_read"] == train["dropped_empty"] + train["dropped_overlap"] + train["dropped_duplicate"] + train["pairs"]
    held_out = {line for split in ("valid", "qqp_test") for side in ("src", "tgt")
                for line in read_lines(qqp / f"{split}.tok.{side}")}
    train_sentences = [line for side in ("src", "tgt") for line in read_lines(qqp / f"train.tok.{side}")]
    assert len(train_sentences) == 2 * train["pairs"] > 80000
    assert not held_out & set(train_sentences)
    pairs = list(zip(read_lines(qqp / "train.tok.src"), read_lines(qqp / "train.tok.tgt")))
    assert len(set(pairs)) == len(pairs)  # no repeats left


def test_qqp_counts_match_a_brute_force_over_the_raw_questions(qqp):
    """The held-out questions that also occur among the raw train questions (either side, compared
    as tokens), and the train pairs dropped for sharing one or for repeating, counted again here
    from the raw files."""
    stats = json.loads((qqp / "stats.json").read_text())
    def tokens(text):
        return tokenise(normalise(text, "en"), "en")

    train = [(tokens(item["question"]), tokens(item["question1"]))
             for part in sorted((SHARED / "qqp" / "raw").glob("*.json.gz"))
             for item in json.loads(gzip.decompress(part.read_bytes()))]
    raw = {question for pair in train for question in pair}
    held_out = set()
    for split, file in (("valid", "diffuseq_valid"), ("qqp_test", "diffuseq_test")):
        pairs = [(tokens(s), tokens(t)) for s, t in read_json_pairs(SHARED / "qqp" / f"{file}.jsonl.gz", "src", "trg")]
        held_out |= {question for pair in pairs for question in pair}
        for side, index in (("src", 0), ("tgt", 1)):
            assert stats["train_overlap"][split][side] == sum(p[index] in raw for p in pairs)
    clean = [pair for pair in train if not set(pair) & held_out]
    counts = stats["splits"]["train"]
    assert (counts["dropped_overlap"], counts["dropped_duplicate"], counts["pairs"]) == (
        len(train) - len(clean), len(clean) - len(set(clean)), len(set(clean)))


# ---- Table 5 -----------------------------------------------------------------------------------
def test_table5_puts_our_qqp_scores_beside_the_papers():
    config = load_config([REPO / "config/config.yaml"])
    paper = packaged_yaml("paper_numbers.yaml")["table5"]
    scores = {("qqp", "ar", "main"): {"bleu": 20.0, "coco": {"bleu4": 21.5, "rouge_l": 50.25},
                                      "copy_source": {"bleu": 30.0, "coco": {"bleu4": 31.0, "rouge_l": 60.0}}}}
    cells = {(c.row, c.column): c for c in table5_cells(paper, scores, config)}
    assert (cells["Transformer", "qqp BLEU-4"].paper, cells["Transformer", "qqp BLEU-4"].reproduced) == ("28.13", "21.50")
    assert (cells["Transformer", "qqp ROUGE-L"].paper, cells["Transformer", "qqp ROUGE-L"].reproduced) == ("58.19", "50.25")
    assert cells["Transformer", "qqp sacreBLEU"].reproduced == "20.00"
    assert cells["DiffGLAT", "qqp BLEU-4"].reproduced == ""  # not run
    tex = table5_tex(paper, scores, config, "Caption.")
    assert "Transformer & 28.13 & 21.50 & 58.19 & 50.25 & 20.00" in tex
    assert r"DAT & 28.82 & \textit{not run}" in tex
    assert "Copy the source & -- & 31.00 & -- & 60.00 & 30.00" in tex
