"""Machine-translation data: Multi30k En-De prepared once from the real files, checked stage by
stage; text normalisation, BPE, filters and batching; and every kind of bad input."""

import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from diffglat import cli
from diffglat.config import ConfigError, load_config
from diffglat.data import prepare as prepare_module
from diffglat.data.batching import length_filter, token_batches
from diffglat.data.benchmarks import resolve_benchmark, selected_benchmarks
from diffglat.data.bpe import BPE, learn_bpe
from diffglat.data.corpus import read_lines
from diffglat.data.indexed import TokenArray, load_split
from diffglat.data.text import detokenise, normalise, tokenise
from diffglat.report.data_stats import data_stats_appendix

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
MULTI30K_SPLITS = ("train", "valid", "test_2016_flickr", "test_2017_flickr", "test_2017_mscoco", "test_2018_flickr")
MULTI30K_FILES = dict(zip(MULTI30K_SPLITS, ("train", "val", "test_2016_flickr", "test_2017_flickr", "test_2017_mscoco",
                                            "test_2018_flickr")))


def write_config(path: Path, settings: dict) -> Path:
    path.write_text(yaml.safe_dump(settings))
    return path


@pytest.fixture(scope="module")
def multi30k(tmp_path_factory):
    """data/prepared/multi30k_en_de from the real files (small vocabulary, to keep the test fast)."""
    tmp = tmp_path_factory.mktemp("multi30k")
    override = write_config(tmp / "override.yaml", {"paths": {"data": str(tmp / "data"), "shared_data": str(SHARED)},
                                                    "benchmarks": {"multi30k_en_de": {"vocab_size": 1000}}})
    assert cli.main(["prepare", "--config", str(REPO / "config/config.yaml"), str(override),
                     "--benchmark", "multi30k_en_de"]) == 0
    return tmp / "data" / "prepared" / "multi30k_en_de"


# ---- the prepared Multi30k --------------------------------------------------------------------
def test_multi30k_stats(multi30k):
    stats = json.loads((multi30k / "stats.json").read_text())
    train = stats["splits"]["train"]
    assert train["pairs_read"] == 29000
    assert train["pairs_read"] == train["dropped_empty"] + train["dropped_overlap"] + train["pairs"]
    assert [stats["splits"][s]["pairs"] for s in MULTI30K_SPLITS[1:]] == [1014, 1000, 1000, 461, 1071]
    assert stats["vocabulary"]["size"] == 1000
    for split in MULTI30K_SPLITS:
        for lang in ("en", "de"):
            tokens = TokenArray(multi30k, f"{split}.{lang}")
            assert len(tokens) == stats["splits"][split]["pairs"]
            assert tokens.lengths.sum() == stats["splits"][split]["tokens"][lang]
            assert tokens.lengths.max() == stats["splits"][split]["length"][lang]["max"]
    # The overlap dropped from train is really gone: no held-out sentence is left in train.
    train_sentences = set(read_lines(multi30k / "train.tok.en"))
    for split in MULTI30K_SPLITS[1:]:
        assert not train_sentences & set(read_lines(multi30k / f"{split}.tok.en"))


def alnum(text: str) -> str:
    """What normalisation and tokenisation leave alone: the letters and digits, in order."""
    return "".join(c for c in text if c.isalnum())


def test_pair_alignment_through_every_stage(multi30k):
    """raw line i -> tokenised line i -> token ids i, for both sides of every split of the real files."""
    stats = json.loads((multi30k / "stats.json").read_text())
    bpe = BPE(multi30k / "spm.model")
    for split in MULTI30K_SPLITS:
        raw = {lang: list(read_lines(SHARED / "multi30k" / f"{MULTI30K_FILES[split]}.{lang}.gz")) for lang in ("en", "de")}
        tok = {lang: list(read_lines(multi30k / f"{split}.tok.{lang}")) for lang in ("en", "de")}
        # Stage 1: walk the raw pairs; each kept pair is the next tokenised pair, on both sides at once.
        j, skipped = 0, 0
        for raw_en, raw_de in zip(raw["en"], raw["de"]):
            if j < len(tok["en"]) and (alnum(raw_en), alnum(raw_de)) == (alnum(tok["en"][j]), alnum(tok["de"][j])):
                j += 1
            else:
                skipped += 1
        assert j == len(tok["en"]) == len(tok["de"])
        assert skipped == stats["splits"][split]["dropped_overlap"] + stats["splits"][split]["dropped_empty"]
        if split != "train":  # held-out sets keep their raw text, line for line
            for lang in ("en", "de"):
                assert list(read_lines(multi30k / f"{split}.{lang}")) == [line.strip() for line in raw[lang]]
                assert [tokenise(normalise(line, lang), lang) for line in raw[lang][:50]] == tok[lang][:50]
        # Stage 2: binarised ids decode to the tokenised line of the same index.
        for lang in ("en", "de"):
            tokens = TokenArray(multi30k, f"{split}.{lang}")
            assert [bpe.decode(tokens[i]) for i in range(len(tokens))] == tok[lang]


def test_collate_frames_each_pair_and_respects_the_batch_budget(multi30k):
    dataset = load_split(multi30k, "valid", "en", "de")
    d = dataset.dictionary
    batch_positions = token_batches(dataset.lengths, max_tokens=600, seed=0, epoch=0)[0]
    batch = dataset.collate(batch_positions)
    for key in ("src", "prev_output_tokens", "tgt_eos", "tgt"):
        assert batch[key].numel() <= 600
    first = batch_positions[0]
    src, tgt = dataset.pair(first)
    assert batch["src"][0, : len(src) + 1].tolist() == src.tolist() + [d.eos]
    assert batch["prev_output_tokens"][0, : len(tgt) + 1].tolist() == [d.bos] + tgt.tolist()
    assert batch["tgt_eos"][0, : len(tgt) + 1].tolist() == tgt.tolist() + [d.eos]
    assert batch["tgt_lengths"][0] == len(tgt)


def test_report_appendix_reads_stats_and_says_not_prepared(multi30k, tmp_path):
    config = load_config([REPO / "config/config.yaml"])
    config["paths"]["data"] = str(multi30k.parent.parent)
    config["prepare"]["benchmarks"] = ["multi30k_en_de", "news_mini_en_de"]
    config["paraphrase"]["benchmarks"] = ["qqp"]  # a study's benchmark is listed too
    config["captioning"]["benchmarks"] = []  # as build_report passes it when MS-COCO is left out
    tex = data_stats_appendix(config, tmp_path / "data_stats.csv")
    rows = {(r["row"], r["column"]): r for r in csv.DictReader((tmp_path / "data_stats.csv").open())}
    assert rows[("multi30k_en_de", "train pairs")]["reproduced"] == "29000"
    assert rows[("multi30k_en_de", "test pairs")]["reproduced"] == "1000"
    assert rows[("news_mini_en_de", "train pairs")] == {"table": "H", "row": "news_mini_en_de", "column": "train pairs",
                                                       "paper": "4.5M", "reproduced": "", "scale": "cpu"}
    assert [row for row, column in rows if column == "train pairs"] == ["multi30k_en_de", "news_mini_en_de", "qqp"]
    assert tex.count("not prepared") == 2 and "multi30k\\_en\\_de & -- & en-de & 29000" in tex


# ---- batching on the real lengths -------------------------------------------------------------
def test_batches_fit_max_tokens_and_cover_each_example_once(multi30k):
    dataset = load_split(multi30k, "train", "en", "de")
    keep, counts = length_filter(dataset.source.lengths, dataset.target.lengths, max_length=60, max_ratio=3.0,
                                 dag={"upsample": 8, "ratio": 2})
    assert counts["kept"] == keep.sum() > 28000
    lengths = dataset.lengths[keep]
    for epoch in (0, 1):
        batches = token_batches(lengths, max_tokens=1000, seed=3, epoch=epoch)
        assert all(len(b) * lengths[b].max() <= 1000 for b in batches)
        assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))


def test_two_shards_are_disjoint_and_cover_the_data(multi30k):
    lengths = load_split(multi30k, "train", "en", "de").lengths
    shards = [np.concatenate(token_batches(lengths, 1000, seed=3, epoch=5, rank=r, world_size=2)) for r in (0, 1)]
    assert not set(shards[0].tolist()) & set(shards[1].tolist())
    assert sorted(np.concatenate(shards).tolist()) == list(range(len(lengths)))
    again = np.concatenate(token_batches(lengths, 1000, seed=3, epoch=5, rank=1, world_size=2))
    assert (again == shards[1]).all()
    with pytest.raises(ValueError, match="rank"):
        token_batches(lengths, 1000, seed=3, epoch=5, rank=2, world_size=2)


def test_length_filter_counts_each_rule():
    src = np.array([5, 20, 300, 2, 10, 4])
    tgt = np.array([6, 5, 10, 2, 10, 11])
    keep, counts = length_filter(src, tgt, max_length=250, max_ratio=3.0)
    # pair 1: ratio 4 > 3; pair 2: 300 > 250 and ratio 30
    assert keep.tolist() == [True, False, False, True, True, True]
    assert counts == {"too_long": 1, "bad_ratio": 2, "kept": 4, "pairs": 6}
    # DA-Transformer's ratio both ways on lengths with EOS: pair 5 has 12 > 2 x 5 (and pair 1, 2);
    # a 2 x graph of pair 5 has 2 x 5 = 10 vertices for BOS y EOS = 13 tokens
    keep, counts = length_filter(src, tgt, max_length=250, max_ratio=3.0, dag={"upsample": 2, "ratio": 2})
    assert keep.tolist() == [True, False, False, True, True, False]
    assert counts == {"too_long": 1, "bad_ratio": 2, "dag_ratio": 3, "dag_too_long": 0, "graph_too_short": 1,
                      "kept": 3, "pairs": 6}
    keep, counts = length_filter(src, tgt, 250, 3.0, {"upsample": 8, "ratio": 3, "max_source_length": 9,
                                                      "max_target_length": None})
    assert keep.tolist() == [True, False, False, True, False, True] and counts["dag_too_long"] == 3
    assert counts["graph_too_short"] == 0


def brute_force_dag_filter(src, tgt, upsample, ratio, max_length, max_ratio):
    """Which rules each pair fails, pair by pair from the definitions."""
    failed = []
    for x, y in zip(src.tolist(), tgt.tolist()):
        rules = set()
        if max(x, y) > max_length:
            rules.add("too_long")
        if max(x, y) > max_ratio * max(min(x, y), 1):
            rules.add("bad_ratio")
        if y + 1 > ratio * (x + 1) or x + 1 > ratio * (y + 1):
            rules.add("dag_ratio")
        if len(["BOS", *range(y), "EOS"]) > upsample * (x + 1):
            rules.add("graph_too_short")
        failed.append(rules)
    return failed


def test_dag_filter_on_real_multi30k_keeps_nearly_every_pair_and_counts_each_drop(multi30k):
    """DAG models at the default 2 x graph see nearly every pair the other models see; stats.json
    counts each rule's drops, matching a pair-by-pair brute force."""
    stats = json.loads((multi30k / "stats.json").read_text())
    others, dag = stats["train_filter"], stats["dag_filter"]["2x"]
    assert others["kept"] == 28990 and dag["pairs"] == others["pairs"]
    assert dag["kept"] >= 28900 and dag["upsample"] == 2 and dag["ratio"] == 2
    dataset = load_split(multi30k, "train", "en", "de")
    failed = brute_force_dag_filter(dataset.source.lengths, dataset.target.lengths, 2, 2, 100, 3.0)
    assert dag["kept"] == sum(not rules for rules in failed)
    for rule in ("too_long", "bad_ratio", "dag_ratio", "graph_too_short"):
        assert dag[rule] == sum(rule in rules for rules in failed), rule
    assert dag["dag_too_long"] == 0


# ---- text and BPE ------------------------------------------------------------------------------
def test_normalisation_rules():
    assert normalise("Şi ţară  \u200b fără\tşcoală ", "ro") == "Și țară fără școală"
    assert normalise("„Hallo“ … ﬁn", "de") == '"Hallo" ... fin'
    assert normalise("你好，世界！\x07", "zh") == "你好，世界！"  # full-width punctuation kept for Chinese
    assert normalise(" \t\u3000 ", "en") == ""
    with pytest.raises(ValueError, match="unsupported language 'xx'"):
        normalise("a", "xx")


def test_tokenise_then_detokenise():
    sentence = "A man's dog, \"Rex\", runs (fast)."
    assert tokenise(sentence, "en") == "A man 's dog , \" Rex \" , runs ( fast ) ."
    assert detokenise(tokenise(sentence, "en"), "en") == sentence
    chinese = "2017年，苹果公司发布了 iPhone X 手机。"
    assert " " in tokenise(chinese, "zh")
    assert detokenise(tokenise(chinese, "zh"), "zh") == "2017年，苹果公司发布了iPhone X手机。"


@pytest.mark.parametrize("pair, prefix, vocab", [(("en", "de"), "multi30k/train", 2000),
                                                  (("en", "zh"), "wmt/en-zh/newstest2019", 4000),
                                                  (("en", "ro"), "wmt/en-ro/europarl-sample", 2000)])
def test_bpe_encode_then_decode_gives_back_the_normalised_text(tmp_path, pair, prefix, vocab):
    """Learned on 1,500 real pairs; checked on 300 others, unseen characters included (byte fallback)."""
    text = {}
    for lang in pair:
        lines = [tokenise(normalise(line, lang), lang) for line in list(read_lines(SHARED / f"{prefix}.{lang}.gz"))[:1800]]
        text[lang] = [line for line in lines if line]
        (tmp_path / f"train.{lang}").write_text("\n".join(text[lang][:1500]) + "\n")
    learn_bpe([tmp_path / f"train.{lang}" for lang in pair], tmp_path / "spm.model", vocab, pair, 10**6, 1, 1)
    bpe = BPE(tmp_path / "spm.model")
    for lang in pair:
        held_out = text[lang][1500:]
        ids, lengths = bpe.encode(held_out)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        assert [bpe.decode(ids[offsets[i]:offsets[i + 1]]) for i in range(len(held_out))] == held_out
    assert bpe.decode([bpe.dictionary.bos, *bpe.encode(["Hallo Welt"])[0], bpe.dictionary.eos, 9, 9]) == "Hallo Welt"


# ---- bad input ---------------------------------------------------------------------------------
TINY_PAIRS = 300


def tiny_corpus(root: Path, edit=None) -> None:
    """Real Multi30k pairs as files tiny/{train,valid,test}.{en,de}.gz; `edit(lines_by_name)` corrupts them."""
    files = {}
    for split, source, size in (("train", "train", TINY_PAIRS), ("valid", "val", 50), ("test", "test_2016_flickr", 50)):
        for lang in ("en", "de"):
            lines = list(read_lines(SHARED / "multi30k" / f"{source}.{lang}.gz"))[:size]
            files[f"{split}.{lang}"] = [line.encode() for line in lines]
    if edit:
        edit(files)
    (root / "tiny").mkdir(parents=True, exist_ok=True)
    for name, lines in files.items():
        with gzip.open(root / "tiny" / f"{name}.gz", "wb") as f:
            f.write(b"".join(line + b"\n" for line in lines))


def tiny_config(repo: Path, tmp_path: Path) -> list[str]:
    override = {"paths": {"shared_data": str(tmp_path / "shared"), "data": str(tmp_path / "data")},
                "prepare": {"benchmarks": ["tiny"]},
                "benchmarks": {"tiny": {"source": "en", "target": "de", "train": ["{shared_data}/tiny/train"],
                                        "valid": ["{shared_data}/tiny/valid"], "test": {"test": ["{shared_data}/tiny/test"]},
                                        "vocab_size": 400, "max_length": 100, "max_ratio": 3.0}}}
    return [str(repo / "config/config.yaml"), str(write_config(tmp_path / "tiny.yaml", override))]


def run_prepare(configs: list[str], benchmark: str, capsys) -> tuple[int, str]:
    code = cli.main(["prepare", "--config", *configs, "--benchmark", benchmark])
    return code, capsys.readouterr().err


def nothing_written(tmp_path: Path) -> bool:
    prepared = tmp_path / "data" / "prepared"
    return not prepared.exists() or not any(prepared.iterdir())


def test_tiny_corpus_prepares(repo, tmp_path, capsys):
    tiny_corpus(tmp_path / "shared")
    code, err = run_prepare(tiny_config(repo, tmp_path), "tiny", capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "data/prepared/tiny/stats.json").read_text())["splits"]["train"]["pairs"] > 0


def test_worker_processes_give_the_same_result(repo, tmp_path):
    tiny_corpus(tmp_path / "shared")
    benchmark = resolve_benchmark(load_config(tiny_config(repo, tmp_path)), "tiny")
    for threads in (1, 2):
        prepare_module.prepare_benchmark(benchmark, tmp_path / f"threads{threads}", seed=1, bpe_sample=10**6,
                                         dag_filters={"8x": {"upsample": 8, "ratio": 2}}, threads=threads)
    names = sorted(p.name for p in (tmp_path / "threads1").iterdir() if p.suffix in (".npy", ".txt", ".en", ".de"))
    # 3 splits x 2 sides x (tokens, offsets, tokenised text, raw text; train keeps no raw text) + dict.txt
    assert len(names) == 3 * 2 * 4 - 2 + 1
    for name in names:
        assert (tmp_path / "threads1" / name).read_bytes() == (tmp_path / "threads2" / name).read_bytes(), name


def test_line_count_mismatch_names_both_files_and_writes_nothing(repo, tmp_path, capsys):
    tiny_corpus(tmp_path / "shared", lambda files: files["train.de"].pop())
    code, err = run_prepare(tiny_config(repo, tmp_path), "tiny", capsys)
    assert code == 2
    assert f"tiny/train.en.gz has {TINY_PAIRS} lines" in err and f"tiny/train.de.gz has {TINY_PAIRS - 1}" in err
    assert nothing_written(tmp_path)


def test_invalid_utf8_names_file_and_line(repo, tmp_path, capsys):
    def corrupt(files):
        files["valid.de"][6] = b"Ein Hund \xff\xfe im Schnee."
    tiny_corpus(tmp_path / "shared", corrupt)
    code, err = run_prepare(tiny_config(repo, tmp_path), "tiny", capsys)
    assert code == 2
    assert "tiny/valid.de.gz:7: not valid UTF-8" in err
    assert nothing_written(tmp_path)


def test_empty_and_whitespace_pairs_are_dropped_and_counted(repo, tmp_path, capsys):
    def blank(files):
        files["train.en"][10] = b""
        files["train.de"][20] = b" \t \xc2\xa0"  # spaces, tab, no-break space
        files["test.en"][3] = b"\xe2\x80\x8b"  # a zero-width space only
    tiny_corpus(tmp_path / "shared", blank)
    code, err = run_prepare(tiny_config(repo, tmp_path), "tiny", capsys)
    assert code == 0, err
    out = tmp_path / "data/prepared/tiny"
    stats = json.loads((out / "stats.json").read_text())["splits"]
    assert stats["train"]["dropped_empty"] == 2 and stats["test"]["dropped_empty"] == 1
    assert stats["train"]["pairs"] == TINY_PAIRS - 2 - stats["train"]["dropped_overlap"]
    # The pairs after a dropped one are still aligned: raw test line 4 is now kept pair 3.
    raw_en = list(read_lines(tmp_path / "shared/tiny/test.en.gz"))
    raw_de = list(read_lines(tmp_path / "shared/tiny/test.de.gz"))
    kept_en, kept_de = list(read_lines(out / "test.en")), list(read_lines(out / "test.de"))
    assert (kept_en[3], kept_de[3]) == (raw_en[4], raw_de[4]) and len(kept_en) == len(kept_de) == 49


@pytest.mark.parametrize("split, read", [("train", TINY_PAIRS), ("test", 50)])
def test_a_split_without_pairs_is_rejected_naming_benchmark_split_and_files(repo, tmp_path, capsys, split, read):
    def emptied(files):  # train: empty files; test: every pair has an empty side
        if split == "train":
            files["train.en"], files["train.de"] = [], []
        else:
            files["test.de"] = [b""] * len(files["test.de"])
    tiny_corpus(tmp_path / "shared", emptied)
    code, err = run_prepare(tiny_config(repo, tmp_path), "tiny", capsys)
    assert code == 2 and err.count("\n") == 1
    read = 0 if split == "train" else read
    assert f"benchmark tiny: its {split} split has no sentence pairs ({read} read, {read} with an empty side" in err
    assert f"tiny/{split}.en.gz + " in err and f"tiny/{split}.de.gz" in err
    assert nothing_written(tmp_path)


def test_a_length_filter_that_keeps_no_pair_is_rejected_naming_its_keys(repo, tmp_path, capsys):
    tiny_corpus(tmp_path / "shared")
    configs = tiny_config(repo, tmp_path)
    configs.append(str(write_config(tmp_path / "short.yaml", {"benchmarks": {"tiny": {"max_length": 1}}})))
    code, err = run_prepare(configs, "tiny", capsys)
    assert code == 2
    assert "benchmark tiny: the length filter (benchmarks.tiny.max_length 1, max_ratio 3.0" in err
    assert "keeps none of the" in err and "tiny/train.en.gz" in err
    assert nothing_written(tmp_path)


def test_missing_files_name_the_config_key(repo, tmp_path, capsys):
    tiny_corpus(tmp_path / "shared", lambda files: files.pop("test.de"))
    code, err = run_prepare(tiny_config(repo, tmp_path), "tiny", capsys)
    assert code == 2 and "benchmarks.tiny.test.test[0]:" in err and "tiny/test.de[.gz] not found" in err
    # The paper's corpora are not offline: the error also says what to put there.
    configs = [str(repo / "config/config.yaml"), str(write_config(tmp_path / "c.yaml", {
        "paths": {"corpora": str(tmp_path / "corpora"), "data": str(tmp_path / "data")}}))]
    code, err = run_prepare(configs, "wmt14_en_de", capsys)
    assert code == 2 and "benchmarks.wmt14_en_de.train[0]:" in err and "WMT14 En-De training data" in err
    assert nothing_written(tmp_path)


def test_unknown_benchmark_names_the_config_key(repo, tmp_path, capsys):
    code, err = run_prepare([str(repo / "config/config.yaml")], "wmt99_xx_yy", capsys)
    assert code == 2 and "benchmarks: no benchmark 'wmt99_xx_yy'" in err
    config = load_config([repo / "config/config.yaml", write_config(tmp_path / "c.yaml", {"prepare": {"benchmarks": ["nope"]}})])
    with pytest.raises(ConfigError, match=r"prepare.benchmarks\[0\]: no benchmark 'nope'"):
        selected_benchmarks(config)
    bad = {"benchmarks": {"multi30k_en_de": {"source": "xx", "test": {"train": ["a"]}}}}
    with pytest.raises(ConfigError) as err:
        load_config([repo / "config/config.yaml", write_config(tmp_path / "bad.yaml", bad)])
    assert "benchmarks.multi30k_en_de.source" in str(err.value) and "benchmarks.multi30k_en_de.test" in str(err.value)


def test_interrupted_preparation_leaves_the_previous_result_or_nothing(repo, tmp_path, capsys, monkeypatch):
    tiny_corpus(tmp_path / "shared")
    configs = tiny_config(repo, tmp_path)
    out = tmp_path / "data/prepared/tiny"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # e.g. Ctrl-C while BPE is being learned

    with monkeypatch.context() as patch:
        patch.setattr(prepare_module, "learn_bpe", interrupted)
        with pytest.raises(KeyboardInterrupt):
            cli.main(["prepare", "--config", *configs, "--benchmark", "tiny"])
    assert nothing_written(tmp_path)
    assert run_prepare(configs, "tiny", capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (tmp_path / "shared/tiny/train.de.gz").write_bytes(gzip.compress(b"x\n"))  # a rerun on changed data fails
    assert run_prepare(configs, "tiny", capsys)[0] == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny"]
    # A folder without its stats.json (e.g. created empty by Snakemake) is never read.
    (out / "stats.json").unlink()
    with pytest.raises(FileNotFoundError, match="not prepared"):
        load_split(out, "train", "en", "de")


def test_snakemake_stops_before_any_job_without_the_paper_corpora(repo, tmp_path):
    override = write_config(tmp_path / "c.yaml", {"paths": {"results": str(tmp_path / "results"),
                                                            "corpora": str(tmp_path / "corpora")}})
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", "config/paper.yaml",
                          str(override)], capture_output=True, text=True, cwd=repo)
    assert run.returncode != 0
    assert "benchmarks.wmt14_en_de.train[0]" in run.stdout + run.stderr
    assert "WMT14 En-De training data" in run.stdout + run.stderr


def test_default_benchmarks_resolve_offline(repo, tmp_path):
    config = load_config([repo / "config/config.yaml", write_config(tmp_path / "c.yaml", {"paths": {"shared_data": str(SHARED)}})])
    for name in selected_benchmarks(config):
        benchmark = resolve_benchmark(config, name)
        assert all(path.is_file() for path in benchmark.files)
