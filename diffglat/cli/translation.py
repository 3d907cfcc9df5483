"""`diffglat translate train|evaluate`: the sequence-to-sequence studies, machine translation (paper
§4, Tables 3-9, config `translation`), paraphrase generation and image captioning (Table 5, config
`paraphrase` and `captioning`).

A benchmark belongs to one study: `paraphrase.benchmarks` to paraphrasing, `captioning.benchmarks`
to captioning, every other to translation. A captioning model reads image features (its
`source_features`, the prepared features' width) and is scored against every caption of an image
(sacreBLEU against the first five while validating). One experiment = model family + size + loss + decoding (`<study>.experiments`).
Training validates every `<study>.validate.every` steps by BLEU on the first
`validate.sentences` validation pairs and keeps the best `validate.keep_best` checkpoints; the
final model is their average (the paper averages the best 5). Evaluation decodes the benchmark's
first test set (the paper's) with one named decoding variant and scores the detokenised output
with sacreBLEU, next to a copy-the-source baseline on the same references (not for an image
source), and with the COCO caption tools where the study names `coco_metrics` (paraphrase: BLEU-4
and ROUGE-L, appendix H; captioning: BLEU-4, METEOR, ROUGE-L, CIDEr).

  results/<benchmark>/<experiment>/model.pt                 averaged weights + training record
  results/<benchmark>/<experiment>/<testset>.<variant>.hyp  detokenised hypotheses, one per line
  results/<benchmark>/<experiment>/<testset>.<variant>.scores.json
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import torch

from ..config import ConfigError, experiment_section, section_hash
from ..data.batching import length_filter
from ..data.benchmarks import benchmark_sides, paper_test_set, prepared_dir, study_of
from ..data.bpe import BPE
from ..data.dictionary import Dictionary
from ..data.images import IMAGE
from ..data.indexed import ParallelDataset, load_split
from ..data.text import detokenise
from ..io import atomic_write_json, atomic_write_text, read_json
from ..metrics.coco import coco_scores, require_java
from ..metrics.mt import corpus_scores
from ..models.transformer import MAX_POSITIONS
from ..provenance import provenance
from ..training import Plateau, TrainSettings, select_device
from ..training.checkpoint import average_checkpoints
from .families import build_criterion, family, generate, load_trained
from .runner import read_model, save_model, shaping, train_run

MAIN_VARIANT = "main"


# ---- what an experiment is --------------------------------------------------------------------
def result_dir(config: dict, benchmark: str, experiment: str) -> Path:
    return Path(config["paths"]["results"]) / benchmark / experiment


def experiment_spec(config: dict, experiment: str, study: str) -> dict:
    """Everything one experiment needs, its defaults filled in from its study's section."""
    section = config[study]
    if experiment not in section["experiments"]:
        raise ConfigError(f"{study}.experiments has no experiment {experiment!r}; "
                          f"known: {sorted(section['experiments'])}")
    exp = section["experiments"][experiment]
    decode = experiment_section(section, experiment, "decode")
    return {
        "model": exp["model"],
        "model_config": {**section["sizes"][exp["size"]], **exp.get("model_args", {})},
        "train": experiment_section(section, experiment, "train"),
        "loss": experiment_section(section, experiment, "loss"),
        "decode": {MAIN_VARIANT: decode, **{name: {**decode, **overrides}
                                            for name, overrides in exp.get("decode_variants", {}).items()}},
        "validate": {**experiment_section(section, experiment, "validate"),
                     "decode": {**decode, **section["validate"]["decode"]}},
        "branch_from": exp.get("branch_from"),
        "dag_filter": section["dag_filter"],
    }


def sized_positions(model_config: dict, max_length: int) -> dict:
    """An upsampled decoder (CTC frames, DAG vertices) of the longest admitted source, upsample x
    (max_length tokens + EOS, or max_length image regions, which have no EOS), can outgrow the
    default position tables (1,024: 8 x 250 tokens at paper scale): then size them to fit. Smaller
    models keep the default (and their parameters)."""
    source_end = 0 if model_config.get("source_features") else 1
    needed = model_config.get("upsample", 1) * (max_length + source_end)
    if needed <= MAX_POSITIONS or "max_positions" in model_config:
        return model_config
    return {**model_config, "max_positions": needed}


def dag_filter(spec: dict) -> dict | None:
    """The DAG training filter of an experiment (`data.batching.length_filter`), None for a model without a DAG."""
    if not family(spec["model"]).has_dag:
        return None
    return {"upsample": spec["model_config"]["upsample"], **spec["dag_filter"]}


def dag_filters(config: dict, study: str) -> dict[str, dict]:
    """Graph name ("8x") -> DAG filter, for every graph size a study's DAG experiments train on."""
    filters = {}
    for experiment in config[study]["experiments"]:
        dag = dag_filter(experiment_spec(config, experiment, study))
        if dag is not None:
            filters[f"{dag['upsample']}x"] = dag
    return dict(sorted(filters.items()))


def decode_settings(spec: dict, study: str, experiment: str, variant: str) -> dict:
    if variant not in spec["decode"]:
        raise ConfigError(f"{study}.experiments.{experiment} has no decoding variant {variant!r}; "
                          f"known: {sorted(spec['decode'])}")
    return spec["decode"][variant]


# ---- data ------------------------------------------------------------------------------------
def training_data(config: dict, benchmark: str, spec: dict) -> tuple[ParallelDataset, dict]:
    """The train split without the pairs the length filter drops (for DAG models also DA-Transformer's filter)."""
    entry = config["benchmarks"][benchmark]
    dataset = load_split(prepared_dir(config, benchmark), "train", *benchmark_sides(entry))
    keep, counts = length_filter(dataset.source.lengths, dataset.target.lengths, entry["max_length"],
                                 entry["max_ratio"], dag_filter(spec), image_source=entry["source"] == IMAGE)
    return ParallelDataset(dataset.source, dataset.target, dataset.dictionary, np.flatnonzero(keep)), counts


def read_window_stats(path: Path) -> list[dict]:
    """train_stats.csv rows (step, name, value), if the run wrote any."""
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return [{"step": int(r["step"]), "name": r["name"], "value": float(r["value"])} for r in csv.DictReader(f)]


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def references(folder: Path, split: str, sides: tuple[str, str]) -> list[list[str]]:
    """Every reference of each held-out item: the target sentence, or all captions of an image."""
    if sides[0] == IMAGE:
        return read_json(folder / f"{split}.refs.json", ("references",))["references"]
    return [[line] for line in read_lines(folder / f"{split}.{sides[1]}")]


def translate(model, kind: str, dataset: ParallelDataset, settings: dict, bpe: BPE, target_lang: str,
              device, limit: int | None = None) -> list[str]:
    """Detokenised hypotheses for the first `limit` pairs (all by default), in order.

    Sentences are decoded in batches of similar source length (less padding), then put back in order.
    """
    count = len(dataset) if limit is None else min(limit, len(dataset))
    order = np.argsort(dataset.source.lengths[dataset.indices[:count]], kind="stable")
    hypotheses: list[str] = [""] * count
    for begin in range(0, count, settings["batch_size"]):
        positions = order[begin: begin + settings["batch_size"]]
        src = dataset.collate(positions)["src"].to(device)
        tokens = generate(kind, model, src, settings).cpu().tolist()
        for position, ids in zip(positions, tokens):
            hypotheses[position] = detokenise(bpe.decode(ids), target_lang)
    return hypotheses


# ---- training ----------------------------------------------------------------------------------
def translate_train(config: dict, benchmark: str, experiment: str) -> None:
    study = study_of(config, benchmark)
    spec = experiment_spec(config, experiment, study)
    entry = config["benchmarks"][benchmark]
    sides = benchmark_sides(entry)
    settings = TrainSettings(**spec["train"])
    folder = prepared_dir(config, benchmark)
    dataset, filtered = training_data(config, benchmark, spec)
    if entry["source"] == IMAGE:  # the feature projection's input width; decoders sized for the most regions
        spec["model_config"] = sized_positions({**spec["model_config"], "source_features": dataset.source.width},
                                               int(dataset.source.lengths.max()))
    else:
        spec["model_config"] = sized_positions(spec["model_config"], entry["max_length"])
    dictionary = dataset.dictionary
    bpe = BPE(folder / "spm.model")
    valid = load_split(folder, "valid", *sides)
    # captioning: the first five captions of each image (sacreBLEU takes as many per item)
    valid_refs = [refs[:5] for refs in references(folder, "valid", sides)]

    device = select_device(config["compute"]["device"], config["compute"]["cpu_threads"])
    validation = spec["validate"]

    def validator(model) -> float:
        hypotheses = translate(model, spec["model"], valid, validation["decode"], bpe, entry["target"], device,
                               limit=validation["sentences"])
        return corpus_scores(hypotheses, valid_refs[: len(hypotheses)], entry["target"])["bleu"]

    # validate.plateau may change between a checkpoint and its resumption, as max_steps may
    validating = {k: v for k, v in spec["validate"].items() if k != "plateau"}
    identity = {"data": config["benchmarks"][benchmark], "spec": {**spec, "train": shaping(spec["train"]), "validate": validating},
                "parent": spec["branch_from"] and experiment_spec(config, spec["branch_from"], study)}
    out = result_dir(config, benchmark, experiment)
    parent = spec["branch_from"] and result_dir(config, benchmark, spec["branch_from"]) / "checkpoints" / "last.pt"
    loss = {"label_smoothing": settings.label_smoothing, **spec["loss"]}
    run = train_run(config, spec["model"], spec["model_config"], len(dictionary), dictionary.pad,
                    lambda model: build_criterion(spec["model"], model, loss), dataset, settings, out, device, identity,
                    validator=validator, validate_every=validation["every"], keep_best=validation["keep_best"],
                    branch_from=parent, plateau=Plateau(**validation["plateau"]) if validation["plateau"] else None)
    if run is None:
        return
    trainer = run.trainer
    best = trainer.best_checkpoints()
    save_model(run, spec["model"], spec["model_config"], len(dictionary), average_checkpoints(best), out / "model.pt",
               epochs=trainer.epochs_trained(),
               # where validation BLEU stopped climbing (None: it ran to max_steps)
               plateau=validation["plateau"], plateau_step=trainer.plateau_step,
               train_pairs=len(dataset), length_filter=filtered, validations=trainer.validations,
               averaged_steps=[int(p.stem[4:]) for p in best],
               # DiffGLAT: per log window, the fraction of each transition's ỹ that differs from y0
               window_stats=read_window_stats(out / "train_stats.csv"),
               # A branch's steps and wall time include its parent's (the shared warm-up).
               branched_from=spec["branch_from"], branched_seconds=trainer.branched_seconds)
    stop = f"plateau at step {trainer.plateau_step}" if trainer.plateau_step is not None else "max_steps"
    print(f"trained {benchmark}/{experiment}: {trainer.step} steps ({stop}) in {trainer.elapsed:.0f}s; averaged steps "
          f"{[int(p.stem[4:]) for p in best]} (best valid BLEU {max(v['score'] for v in trainer.validations):.2f})")


# ---- evaluation ----------------------------------------------------------------------------------
def translate_evaluate(config: dict, benchmark: str, experiment: str, variant: str) -> None:
    study = study_of(config, benchmark)
    spec = experiment_spec(config, experiment, study)
    settings = decode_settings(spec, study, experiment, variant)
    entry = config["benchmarks"][benchmark]
    sides = benchmark_sides(entry)
    metrics = tuple(config[study]["coco_metrics"])
    if metrics:
        require_java()  # before decoding, not after
    folder = prepared_dir(config, benchmark)
    out = result_dir(config, benchmark, experiment)
    checkpoint = read_model(out / "model.pt")
    device = select_device(config["compute"]["device"], config["compute"]["cpu_threads"])
    model = load_trained(checkpoint, Dictionary.pad)
    model.to(device).eval()

    split = paper_test_set(config, benchmark)
    dataset = load_split(folder, split, *sides)
    item_references = references(folder, split, sides)
    sources = None if sides[0] == IMAGE else read_lines(folder / f"{split}.{sides[0]}")
    start = time.perf_counter()
    with torch.no_grad():
        hypotheses = translate(model, checkpoint["kind"], dataset, settings, BPE(folder / "spm.model"),
                               entry["target"], device)
    seconds = time.perf_counter() - start
    scores = corpus_scores(hypotheses, item_references, entry["target"])
    copy_source = None if sources is None else corpus_scores(sources, item_references, entry["target"])
    if metrics:  # against every reference of an item
        scores["coco"] = coco_scores(hypotheses, item_references, metrics)
        if copy_source is not None:
            copy_source["coco"] = coco_scores(sources, item_references, metrics)
    atomic_write_text(out / f"{split}.{variant}.hyp", "".join(h + "\n" for h in hypotheses))
    atomic_write_json(out / f"{split}.{variant}.scores.json", {
        "study": study, "benchmark": benchmark, "experiment": experiment, "variant": variant,
        "model": checkpoint["kind"], "test_set": split, "source": entry["source"], "target": entry["target"],
        "sentences": len(hypotheses), **scores,
        # The floor every real model must clear: the source sentence offered as its own translation
        # (None for an image source).
        "copy_source": copy_source,
        "decode": settings, "decode_seconds": seconds,
        "training": checkpoint["training"],
        "config": {"name": config["name"], "scale": config["scale"], "hash": section_hash(config[study])},
        "provenance": provenance(device.type),
    })
    coco = "".join(f" {name} {value:.2f}" for name, value in scores.get("coco", {}).items())
    print(f"{benchmark}/{experiment} [{variant}] {split}: BLEU {scores['bleu']:.2f} chrF {scores['chrf']:.2f}{coco} "
          f"({scores['bleu_signature']})")
