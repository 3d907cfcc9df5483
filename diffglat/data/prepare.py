"""`diffglat prepare`: one benchmark from raw corpora to binarised token arrays and stats.json.

Stages, each reading the files the previous one wrote, so every step can be inspected:

  text      raw pairs -> normalised, tokenised pairs (text.py)     <split>.tok.<side>
            valid and test sets also keep their raw text            <split>.<side>  (for sacreBLEU, COMET)
            pairs with an empty side are dropped; so is every train pair sharing a sentence
            (its tokens: the same words and punctuation whatever the spacing) with a valid or
            test set, on its side, or on either side when both sides are one language (as in
            paraphrasing): no test sentence leaks into training; with `deduplicate`, so is every
            repeat of a train pair (the same tokens on both sides)
  captions  captioning instead of text: captions lowercased (as the COCO tools score them),
            normalised and tokenised; every caption of a train image one pair, one pair per
            held-out image (its first caption) with all captions kept for scoring; the images'
            features, all-zero regions dropped                      <split>.tok.<lang>, <split>.refs.json,
                                                                    <split>.image.*.npy (indexed.py)
  bpe       joint BPE learned on train.tok.* (bpe.py)               spm.model, dict.txt
  binarise  ids of every split and side (indexed.py)                <split>.<side>.{tokens,offsets}.npy
  stats     pairs, tokens, lengths, filter counts, overlap          stats.json, written last

A side is named by its file suffix: the language (en, de), or the benchmark's `sides` (src, tgt).

The folder is built as a hidden sibling and renamed into place once complete: an interrupted run
leaves the previous complete result or nothing, never a mixture a later step could trust.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from contextlib import ExitStack
from importlib import metadata
from itertools import islice
from pathlib import Path

import numpy as np

from .batching import length_filter
from .benchmarks import Benchmark, Corpus
from .bpe import BPE, learn_bpe
from .corpus import read_lines
from .images import IMAGE, FeatureStore, read_karpathy, real_regions
from .indexed import DONE_MARKER, save_tokens
from .text import normalise, tokenise
from ..io import atomic_write_json

CHUNK = 10_000  # sentence pairs per unit of work (one task for a worker process)
TOOLS = ("sentencepiece", "sacremoses", "jieba")


def prepare_benchmark(benchmark: Benchmark, out: Path, seed: int, bpe_sample: int, dag_filters: dict[str, dict],
                      threads: int = 1, record: dict | None = None) -> dict:
    """Prepare `benchmark` into folder `out`; returns the stats (also in out/stats.json).

    dag_filters: graph name (e.g. "2x") -> the DAG filter settings training applies to DAG models
    of that graph size (`batching.length_filter`'s `dag`): stats.json counts what each rule drops.
    record: extra fields stored in stats.json (config hash, provenance).
    """
    start = time.perf_counter()
    out = Path(out)
    for stale in [*out.parent.glob(f".{out.name}.tmp-*"), *out.parent.glob(f".{out.name}.old-*")]:
        shutil.rmtree(stale)  # left by a killed run
    work = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    work.mkdir(parents=True)
    try:
        if benchmark.captioning:
            splits, overlap, regions = caption_stage(benchmark, work)
        else:
            (splits, overlap), regions = text_stage(benchmark, work, threads), {}
        reject_empty(benchmark, splits)
        text_sides = [side for side in benchmark.sides if side != IMAGE]
        try:
            learn_bpe([work / f"train.tok.{side}" for side in text_sides],
                      work / "spm.model", benchmark.vocab_size, (benchmark.source, benchmark.target),
                      bpe_sample, seed, threads)
        except RuntimeError as err:  # SentencePiece's own message, e.g. "Vocabulary size too high"
            raise ValueError(f"benchmarks.{benchmark.name}.vocab_size: {err}") from None
        bpe = BPE(work / "spm.model")
        bpe.dictionary.save(work / "dict.txt")
        lengths = {split: {**regions.get(split, {}), **{side: binarise(bpe, work, split, side, threads)
                                                         for side in text_sides}} for split in splits}
        stats = statistics(benchmark, splits, lengths, overlap, len(bpe.dictionary), dag_filters)
        reject_filtered(benchmark, stats)
        stats.update(seconds=round(time.perf_counter() - start, 1), **(record or {}))
        atomic_write_json(work / DONE_MARKER, stats)
        replace_dir(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return stats


def split_files(benchmark: Benchmark, split: str) -> str:
    return ", ".join(map(str, benchmark.corpora[split]))


def reject_empty(benchmark: Benchmark, counts: dict[str, dict]) -> None:
    """A split left without pairs (empty files, or every pair dropped) cannot train or score: stop here."""
    for split, c in counts.items():
        if c["pairs"] == 0:
            dropped = f"{c['dropped_empty']} with an empty side" + (
                f", {c['dropped_overlap']} sharing a sentence with a valid or test set, "
                f"{c['dropped_duplicate']} repeats" if split == "train" else "")
            raise ValueError(f"benchmark {benchmark.name}: its {split} split has no sentence pairs "
                             f"({c['pairs_read']} read, {dropped}) in {split_files(benchmark, split)}")


def reject_filtered(benchmark: Benchmark, stats: dict) -> None:
    """A training length filter that keeps no pair leaves nothing to train on."""
    filters = {"the length filter": stats["train_filter"],
               **{f"the {name} DAG filter": dag for name, dag in stats["dag_filter"].items()}}
    for name, counts in filters.items():
        if counts["kept"] == 0:
            raise ValueError(f"benchmark {benchmark.name}: {name} (benchmarks.{benchmark.name}.max_length "
                             f"{benchmark.max_length}, max_ratio {benchmark.max_ratio}; translation.dag_filter) "
                             f"keeps none of the {counts['pairs']} train pairs of {split_files(benchmark, 'train')}")


def replace_dir(new: Path, out: Path) -> None:
    """Move the complete folder `new` to `out`, replacing what was there."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        out.rename(old)
    new.rename(out)
    shutil.rmtree(old, ignore_errors=True)


# ---- text ------------------------------------------------------------------------------------
def text_chunk(task: tuple[str, str, list[tuple[str, str]]]) -> list[tuple[str, ...]]:
    """(source lang, target lang, raw pairs) -> per pair: raw and tokenised source and target.

    Tokenised sides are "" when a normalised side is empty (the pair is dropped).
    """
    source_lang, target_lang, pairs = task
    records = []
    for raw_source, raw_target in pairs:
        source, target = normalise(raw_source, source_lang), normalise(raw_target, target_lang)
        tokens = (tokenise(source, source_lang), tokenise(target, target_lang)) if source and target else ("", "")
        records.append((raw_source.strip(), raw_target.strip(), *tokens))
    return records


def chunks(corpora: list[Corpus]):
    """The raw pairs of a split's corpora, CHUNK at a time."""
    pairs = (pair for corpus in corpora for pair in corpus.pairs())
    while chunk := list(islice(pairs, CHUNK)):
        yield chunk


class Serial:
    """multiprocessing.Pool's imap and context manager, in this process (threads = 1)."""

    imap = staticmethod(map)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def text_split(pool, benchmark: Benchmark, split: str, work: Path, banned: tuple[set, set] | None = None):
    """Normalise and tokenise one split into work/ -> (counts, tokenised sentences per side).

    A held-out split (banned None) returns every sentence it kept. Train drops each pair with a
    sentence in `banned` (source set, target set), and with `deduplicate` each repeated pair, and
    returns the banned sentences it held.
    """
    names = [f"{split}.tok.{side}" for side in benchmark.sides]
    if banned is None:  # held-out sets also keep their raw text, for scoring
        names += [f"{split}.{side}" for side in benchmark.sides]
    counts = {"pairs_read": 0, "dropped_empty": 0, "dropped_overlap": 0, "dropped_duplicate": 0, "pairs": 0}
    sentences = ([], []) if banned is None else (set(), set())
    seen = set()  # the tokenised train pairs kept so far (with `deduplicate`)
    with ExitStack() as stack:
        outs = [stack.enter_context((work / name).open("w", encoding="utf-8")) for name in names]
        languages = (benchmark.source, benchmark.target)
        for records in pool.imap(text_chunk, ((*languages, chunk) for chunk in chunks(benchmark.corpora[split]))):
            for record in records:
                counts["pairs_read"] += 1
                raw, tokenised = record[0:2], record[2:4]
                if not tokenised[0]:
                    counts["dropped_empty"] += 1
                    continue
                if banned is not None:
                    leaked = [side for side in (0, 1) if tokenised[side] in banned[side]]
                    for side in leaked:
                        sentences[side].add(tokenised[side])
                    if leaked:
                        counts["dropped_overlap"] += 1
                        continue
                    if benchmark.deduplicate:
                        if tokenised in seen:
                            counts["dropped_duplicate"] += 1
                            continue
                        seen.add(tokenised)
                else:
                    sentences[0].append(tokenised[0])
                    sentences[1].append(tokenised[1])
                counts["pairs"] += 1
                for out, line in zip(outs, tokenised + raw):
                    out.write(line + "\n")
    return counts, sentences


def text_stage(benchmark: Benchmark, work: Path, threads: int) -> tuple[dict, dict]:
    """All splits, held-out ones first -> (counts per split, per held-out split and side the
    number of its pairs whose sentence also occurred in the raw train corpus).

    With both sides in one language a sentence is banned, and counted, whichever side holds it."""
    held_out = [split for split in benchmark.corpora if split != "train"]
    counts, kept = {}, {}
    with multiprocessing.get_context("fork").Pool(threads) if threads > 1 else Serial() as pool:
        for split in held_out:
            counts[split], kept[split] = text_split(pool, benchmark, split, work)
        banned = tuple(set().union(*(kept[split][side] for split in held_out)) for side in (0, 1))
        if benchmark.source == benchmark.target:
            banned = (banned[0] | banned[1],) * 2
        counts["train"], leaked = text_split(pool, benchmark, "train", work, banned)
    if benchmark.source == benchmark.target:
        leaked = (leaked[0] | leaked[1],) * 2
    overlap = {split: {name: sum(s in leaked[side] for s in kept[split][side])
                       for side, name in enumerate(benchmark.sides)} for split in held_out}
    return {split: counts[split] for split in benchmark.corpora}, overlap


# ---- captions ------------------------------------------------------------------------------
def caption_images(benchmark: Benchmark, karpathy: dict, split: str) -> list[tuple[int, list[str]]]:
    """(image id, raw captions) of a benchmark split: the images of its Karpathy splits, in order."""
    images = []
    for corpus in benchmark.corpora[split]:
        if corpus.split not in karpathy:
            raise ValueError(f"{corpus.files[0]}: no image is in Karpathy split {corpus.split!r} (benchmark "
                             f"{benchmark.name}, split {split}); the file has {', '.join(sorted(karpathy))}")
        images += karpathy[corpus.split]
    return images


def caption_stage(benchmark: Benchmark, work: Path) -> tuple[dict, dict, dict]:
    """Captions and image features of every split into work/ -> (counts per split, per held-out
    split the images also listed for train (dropped from train), regions per pair of each split).

    A split's counts: pairs_read (captions), dropped_empty (captions empty once normalised),
    dropped_overlap (train: captions of images also held out), images, regions, zero_regions
    (all-zero regions dropped), pairs."""
    captions_file, features_path = benchmark.corpora["train"][0].files
    karpathy = read_karpathy(captions_file)
    lang = benchmark.target
    held_out = [split for split in benchmark.corpora if split != "train"]
    images = {split: caption_images(benchmark, karpathy, split) for split in benchmark.corpora}
    held_ids = {split: {image_id for image_id, _ in images[split]} for split in held_out}
    banned = set().union(*held_ids.values())
    counts, regions, width = {}, {}, None  # every split's features as wide as the first's
    with FeatureStore(features_path) as store:
        for split in [*held_out, "train"]:
            c = {"pairs_read": 0, "dropped_empty": 0, "dropped_overlap": 0, "dropped_duplicate": 0,
                 "images": 0, "regions": 0, "zero_regions": 0, "pairs": 0}
            captions, references, pair_images, image_ids = [], [], [], []
            with FeatureWriter(work, f"{split}.{IMAGE}", features_path, width) as writer:
                for image_id, raw_captions in images[split]:
                    c["pairs_read"] += len(raw_captions)
                    if split == "train" and image_id in banned:
                        c["dropped_overlap"] += len(raw_captions)
                        continue
                    kept = [(text, tokenise(text, lang)) for text in (normalise(r.lower(), lang) for r in raw_captions)
                            if text]
                    c["dropped_empty"] += len(raw_captions) - len(kept)
                    if not kept:
                        continue
                    try:
                        features = store(image_id)
                    except ValueError as err:
                        raise ValueError(f"{err} (benchmark {benchmark.name}, split {split})") from None
                    real = real_regions(features)
                    if not len(real):
                        raise ValueError(f"{features_path}: every region of image {image_id} is all zeros")
                    c["zero_regions"] += len(features) - len(real)
                    writer.add(image_id, real)
                    chosen = kept if split == "train" else kept[:1]  # held out: one pair per image
                    captions += [tokens for _, tokens in chosen]
                    pair_images += [c["images"]] * len(chosen)
                    if split != "train":
                        references.append([text for text, _ in kept])
                        image_ids.append(image_id)
                    c["images"] += 1
                    c["regions"] += len(real)
                writer.pairs = pair_images
            width = writer.width
            c["pairs"] = len(captions)
            (work / f"{split}.tok.{lang}").write_text("".join(t + "\n" for t in captions), encoding="utf-8")
            if split != "train":  # every caption of each image, for scoring, and which image it is
                atomic_write_json(work / f"{split}.refs.json", {"image_ids": image_ids, "references": references})
            counts[split] = c
            regions[split] = {IMAGE: writer.regions[np.asarray(pair_images, dtype=np.int64)]}
    train_ids = {image_id for image_id, _ in images["train"]}
    overlap = {split: {IMAGE: len(ids & train_ids), lang: 0} for split, ids in held_ids.items()}
    return {split: counts[split] for split in benchmark.corpora}, overlap, regions


class FeatureWriter:
    """Streams images' regions into <stem>.features.npy (float16, indexed.FeatureArray's layout)
    without holding them: raw rows go to a scratch file, the .npy header is written once the
    count is known. `pairs` (each pair's image) is set before the block ends."""

    def __init__(self, work: Path, stem: str, source: Path, width: int | None = None):
        self.work, self.stem, self.source = work, stem, source
        self.counts, self.width, self.pairs = [], width, []
        self.scratch = work / f"{stem}.features.scratch"

    def __enter__(self):
        self.file = self.scratch.open("wb")
        return self

    def add(self, image_id: int, features: np.ndarray) -> None:
        if self.width is None:
            self.width = features.shape[1]
        if features.shape[1] != self.width:
            raise ValueError(f"{self.source}: image {image_id} has {features.shape[1]} features per region, "
                             f"the images before it {self.width}")
        self.file.write(np.ascontiguousarray(features, dtype=np.float16).tobytes())
        self.counts.append(len(features))

    def __exit__(self, kind, *exc):
        self.file.close()
        if kind is None:
            self.regions = np.asarray(self.counts, dtype=np.int64)
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)), "fortran_order": False,
                      "shape": (int(self.regions.sum()), self.width or 0)}
            with (self.work / f"{self.stem}.features.npy").open("wb") as out, self.scratch.open("rb") as raw:
                np.lib.format.write_array_header_1_0(out, header)
                shutil.copyfileobj(raw, out, 1 << 24)
            np.save(self.work / f"{self.stem}.offsets.npy", np.concatenate([[0], np.cumsum(self.regions)]).astype(np.int64))
            np.save(self.work / f"{self.stem}.pairs.npy", np.asarray(self.pairs, dtype=np.int64))
        self.scratch.unlink(missing_ok=True)
        return False


# ---- binarise --------------------------------------------------------------------------------
def binarise(bpe: BPE, work: Path, split: str, side: str, threads: int) -> np.ndarray:
    """work/<split>.tok.<side> -> <split>.<side>.{tokens,offsets}.npy; returns the lengths [n]."""
    lines = read_lines(work / f"{split}.tok.{side}")
    encoded = [bpe.encode(chunk, threads) for chunk in iter(lambda: list(islice(lines, 10 * CHUNK)), [])]
    encoded = encoded or [bpe.encode([])]
    lengths = np.concatenate([counts for _, counts in encoded])
    save_tokens(work, f"{split}.{side}", np.concatenate([ids for ids, _ in encoded]), lengths)
    return lengths


# ---- statistics ------------------------------------------------------------------------------
def length_summary(lengths: np.ndarray) -> dict:
    if not len(lengths):
        return {}
    p50, p90, p99 = np.percentile(lengths, [50, 90, 99])
    return {"mean": round(float(lengths.mean()), 2), "p50": round(float(p50), 1), "p90": round(float(p90), 1),
            "p99": round(float(p99), 1), "max": int(lengths.max())}


def statistics(benchmark: Benchmark, counts: dict, lengths: dict, overlap: dict, vocab: int,
               dag_filters: dict[str, dict]) -> dict:
    """stats.json: lengths are in BPE tokens without BOS/EOS (image regions for an image side);
    tokens, lengths and overlaps are keyed by side."""
    src, tgt = benchmark.sides
    splits = {}
    for split, c in counts.items():
        splits[split] = {"files": [[str(f) for f in corpus.files] for corpus in benchmark.corpora[split]], **c,
                         "tokens": {side: int(lengths[split][side].sum()) for side in (src, tgt)},
                         "length": {side: length_summary(lengths[split][side]) for side in (src, tgt)}}
    train_lengths = lengths["train"][src], lengths["train"][tgt], benchmark.max_length, benchmark.max_ratio
    images = benchmark.captioning
    _, filtered = length_filter(*train_lengths, image_source=images)
    dag_filtered = {name: {**dag, **length_filter(*train_lengths, dag, image_source=images)[1]}
                    for name, dag in dag_filters.items()}
    return {
        "benchmark": benchmark.name, "source": benchmark.source, "target": benchmark.target, "sides": [src, tgt],
        "test_sets": benchmark.test_sets,
        "vocabulary": {"size": vocab, "bpe_requested": benchmark.vocab_size,
                       "kind": "target-side SentencePiece BPE" if images else "joint SentencePiece BPE"},
        "splits": splits,
        # What training's length filter removes from train (the binarised files keep every pair),
        # and what it removes for the DAG models of each graph size (DA-Transformer's filter on top).
        "train_filter": {"max_length": benchmark.max_length, "max_ratio": benchmark.max_ratio, **filtered},
        "dag_filter": dag_filtered,
        # Held-out pairs whose sentence (captioning: image) also occurred in the train corpus; those
        # train pairs were dropped.
        "train_overlap": overlap,
        "tools": {name: metadata.version(name) for name in TOOLS},
    }
