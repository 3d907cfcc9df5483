"""`diffglat synthetic data|train|evaluate`: the four-modality study (paper §2.2, appendix A)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..config import ConfigError, section_hash
from ..data import synthetic as syn
from ..decoding import ar_greedy, nat_argmax
from ..io import atomic_write_json, atomic_write_text
from ..losses import LayerwiseCrossEntropy
from ..metrics.synthetic import closest_target_scores, reference_token_accuracy
from ..provenance import provenance
from ..training import TrainSettings, select_device
from .families import family, load_trained
from .runner import read_model, save_model, shaping, train_run

EVAL_BATCH_SIZE = 250


# ---- paths: one place that says where each step reads and writes ---------------------------------
def synthetic_data_dir(config: dict) -> Path:
    return Path(config["paths"]["data"]) / "synthetic"


def synthetic_result_dir(config: dict, experiment: str) -> Path:
    return Path(config["paths"]["results"]) / "synthetic" / experiment


def experiment_config(config: dict, experiment: str) -> dict:
    experiments = config["synthetic"]["experiments"]
    if experiment not in experiments:
        raise ConfigError(f"synthetic.experiments has no experiment {experiment!r}; known: {sorted(experiments)}")
    return experiments[experiment]


# ---- synthetic study ---------------------------------------------------------------------------
def synthetic_data(config: dict) -> None:
    cfg = config["synthetic"]["data"]
    out = synthetic_data_dir(config)
    sizes = {name: cfg[name] for name in ("train", "valid", "test")}
    splits = syn.generate_splits(sizes, cfg["seq_len"], cfg["max_number"], cfg["seed"])
    for name, split in splits.items():
        syn.write_split(split, out / f"{name}.tsv")
    example = np.array([syn.PAPER_EXAMPLE_SOURCE])
    test = splits["test"]
    stats = {
        "config_hash": section_hash(cfg),
        "sizes": sizes, "seq_len": cfg["seq_len"], "max_number": cfg["max_number"],
        "modality_counts": {name: {m: int((split.modality == i).sum()) for i, m in enumerate(syn.MODALITY_NAMES)}
                            for name, split in splits.items()},
        # Table 1's example source under the paper's N = 5000, as a check of the generator's rules.
        "paper_example": {"source": list(syn.PAPER_EXAMPLE_SOURCE), "max_number": 5000,
                          "targets": dict(zip(syn.MODALITY_NAMES, syn.all_targets(example, 5000)[0].tolist()))},
        # The "DATA" column of Table 2: the references scored like a model's output.
        "reference_scores": closest_target_scores(test.target.tolist(), test.source, cfg["max_number"]),
        "provenance": provenance(),
    }
    atomic_write_json(out / "stats.json", stats)
    print(f"wrote {', '.join(f'{k} ({v} pairs)' for k, v in sizes.items())} to {out}")


def synthetic_loss(experiment: dict, decoder_layers: int, label_smoothing: float, pad: int) -> LayerwiseCrossEntropy:
    """AR: last layer vs target+EOS. NAT: last layer vs target. PML adds a middle layer vs merged target."""
    if family(experiment["model"]).autoregressive:
        layer_targets = {decoder_layers: "tgt_eos"}
    else:
        layer_targets = {decoder_layers: "tgt"}
        if "pml_middle_layer" in experiment:
            layer_targets[experiment["pml_middle_layer"]] = "tgt_merged"
    return LayerwiseCrossEntropy(layer_targets, label_smoothing, pad)


def synthetic_train(config: dict, experiment: str) -> None:
    exp = experiment_config(config, experiment)
    data_cfg, model_cfg = config["synthetic"]["data"], config["synthetic"]["model"]
    settings = TrainSettings(**{**config["synthetic"]["train"], **exp.get("train", {})})
    dictionary = syn.dictionary(data_cfg["max_number"])
    dataset = syn.SyntheticDataset(syn.read_split(synthetic_data_dir(config) / "train.tsv", data_cfg["max_number"]),
                                   dictionary, data_cfg["max_number"])
    device = select_device(config["compute"]["device"], config["compute"]["cpu_threads"])
    identity = {"data": data_cfg, "model": model_cfg, "experiment": {**exp, "train": shaping(vars(settings))}}
    out = synthetic_result_dir(config, experiment)
    run = train_run(config, exp["model"], model_cfg, len(dictionary), dictionary.pad,
                    lambda model: synthetic_loss(exp, model_cfg["decoder_layers"], settings.label_smoothing, dictionary.pad),
                    dataset, settings, out, device, identity)
    if run is None:
        return
    trainer, last_stats = run.trainer, run.last_stats
    save_model(run, exp["model"], model_cfg, len(dictionary), {k: v.cpu() for k, v in run.model.state_dict().items()},
               out / "model.pt")
    print(f"trained {experiment}: {trainer.step} steps in {trainer.elapsed:.0f}s, last loss {last_stats.get('loss', float('nan')):.4f}")


def decode_synthetic(model, kind: str, dataset: syn.SyntheticDataset, layers: tuple[int, ...], seq_len: int,
                     device) -> dict[int, list[list[int]]]:
    """Output numbers per decoder layer for every pair of the dataset (AR: last layer only)."""
    d = dataset.dictionary
    hypotheses: dict[int, list[list[int]]] = {layer: [] for layer in layers}
    for begin in range(0, len(dataset), EVAL_BATCH_SIZE):
        indices = np.arange(begin, min(begin + EVAL_BATCH_SIZE, len(dataset)))
        batch = {k: v.to(device) for k, v in dataset.collate(indices).items()}
        if family(kind).autoregressive:  # the final layer only: an AR decoder has no layer-wise outputs
            tokens = {layers[-1]: ar_greedy(model, batch["src"], seq_len + 1, d.bos, d.eos)}
        else:
            tokens = nat_argmax(model, batch["src"], batch["tgt_lengths"], layers)
        for layer, ids in tokens.items():
            hypotheses[layer] += [syn.hypothesis_numbers(row, d) for row in ids.cpu().tolist()]
    return hypotheses


def synthetic_evaluate(config: dict, experiment: str, split_name: str) -> None:
    exp = experiment_config(config, experiment)
    data_cfg = config["synthetic"]["data"]
    max_number = data_cfg["max_number"]
    out = synthetic_result_dir(config, experiment)
    checkpoint = read_model(out / "model.pt")
    dictionary = syn.dictionary(max_number)
    device = select_device(config["compute"]["device"], config["compute"]["cpu_threads"])
    model = load_trained(checkpoint, dictionary.pad)
    model.to(device).eval()
    final_layer = checkpoint["model_config"]["decoder_layers"]
    layers = (final_layer,) if family(checkpoint["kind"]).autoregressive else tuple(range(1, final_layer + 1))
    def decode(split):
        return decode_synthetic(model, checkpoint["kind"], syn.SyntheticDataset(split, dictionary, max_number),
                                layers, data_cfg["seq_len"], device)

    split = syn.read_split(synthetic_data_dir(config) / f"{split_name}.tsv", max_number)
    start = time.perf_counter()
    hypotheses = decode(split)
    seconds = time.perf_counter() - start
    scores = {layer: closest_target_scores(hyps, split.source, max_number) for layer, hyps in hypotheses.items()}

    # Memorisation probe: how often the NAR reproduces the modality each *training* source was given.
    train = syn.read_split(synthetic_data_dir(config) / "train.tsv", max_number)
    probe = syn.SyntheticSplit(train.source[: len(split)], train.modality[: len(split)], train.target[: len(split)])
    merged = syn.apply_modality(probe.source, syn.MERGED_MODALITY[probe.modality], max_number)
    train_probe = {}
    for layer, hyps in decode(probe).items():
        reference = merged if layer == exp.get("pml_middle_layer") else probe.target
        train_probe[str(layer)] = {**closest_target_scores(hyps, probe.source, max_number),
                                   "own_reference_token_accuracy": reference_token_accuracy(hyps, reference)}

    atomic_write_text(out / f"{split_name}.hyp", "".join(" ".join(map(str, h)) + "\n" for h in hypotheses[final_layer]))
    atomic_write_json(out / f"{split_name}.scores.json", {
        "study": "synthetic", "experiment": experiment, "model": checkpoint["kind"], "split": split_name,
        "pml_middle_layer": exp.get("pml_middle_layer"), "final_layer": final_layer,
        "layers": {str(layer): s for layer, s in scores.items()},
        "train_probe": train_probe,
        "training": checkpoint["training"], "decode_seconds": seconds,
        "config": {"name": config["name"], "scale": config["scale"], "hash": section_hash(config["synthetic"])},
        "provenance": provenance(device.type),
    })
    final = scores[final_layer]
    print(f"{experiment} {split_name}: token acc {final['token_accuracy']:.1f}, seq acc {final['sequence_accuracy']:.1f}")
