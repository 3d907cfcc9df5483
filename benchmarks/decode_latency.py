"""Decoding latency per sentence of every translation model, and its speedup over the AR Transformer.

The paper (Table 3, appendix D) measures WMT14 En-De at batch 1 on a V100 (DAT 13.0x, DiffGLAT
1 and 3 iterations 13.0x and 7.2x faster than AR 6-6 with beam search). This script measures the
same comparison on this machine for the config's first translation benchmark (Multi30k En-De at
CPU scale): batch 1 on the first --sentences test sentences, and batch 64 on the whole test set
(NAR speedups shrink at large batches; Helcl et al. 2022). It uses each experiment's trained
weights (results/<benchmark>/<experiment>/model.pt) when present, else fresh weights of the
same architecture, which changes what an AR model outputs (and so how long it runs): the table
says which. The speedup baseline is the `ar` experiment with its main (beam) decoding.

    python benchmarks/decode_latency.py [--config config/config.yaml ...] [--sentences 100] [--threads 1]
                                        [--rows ar:main dat:lookahead ...] [--json docs/runs/decode_latency.json]

--json also writes the measurements as a record (the README's latency table is rendered from
docs/runs/decode_latency.json by scripts/readme_figures.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from diffglat.cli.translation import experiment_spec, result_dir  # noqa: E402
from diffglat.config import load_config  # noqa: E402
from diffglat.data.benchmarks import benchmark_sides, paper_test_set, prepared_dir  # noqa: E402
from diffglat.data.dictionary import Dictionary  # noqa: E402
from diffglat.data.indexed import load_split  # noqa: E402
from diffglat.cli.families import build_model, generate, load_trained  # noqa: E402
from diffglat.io import atomic_write_json  # noqa: E402
from diffglat.provenance import git_commit, hardware  # noqa: E402
from diffglat.training import load_checkpoint  # noqa: E402

BASELINE = ("ar", "main")
# The rows of the paper's latency comparison (Table 3's speedups, Table 9), as experiment:variant.
DEFAULT_ROWS = ["ar:main", "ar:greedy", "ar_deep_shallow:main", "ctc:main", "glat:main", "glat_ctc:main",
                "dat:main", "dat:lookahead", "diffglat_1:main", "diffglat_3:main"]


def load(config: dict, benchmark: str, experiment: str, vocab_size: int):
    """(model, 'trained' | 'untrained') for one experiment."""
    path = result_dir(config, benchmark, experiment) / "model.pt"
    if path.is_file():
        checkpoint = load_checkpoint(path)
        model = load_trained(checkpoint, Dictionary.pad)
        return model.eval(), "trained"
    spec = experiment_spec(config, experiment, "translation")
    return build_model(spec["model"], spec["model_config"], vocab_size, Dictionary.pad).eval(), "untrained"


def latency(model, kind: str, dataset, settings: dict, batch_size: int, count: int) -> float:
    """Milliseconds per sentence decoding the first `count` sentences in batches of batch_size (in order)."""
    positions = np.arange(count)
    with torch.no_grad():
        generate(kind, model, dataset.collate(positions[:1])["src"], settings)  # warm-up
        start = time.perf_counter()
        for begin in range(0, count, batch_size):
            generate(kind, model, dataset.collate(positions[begin: begin + batch_size])["src"], settings)
        return 1000 * (time.perf_counter() - start) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", nargs="+", default=["config/config.yaml"])
    parser.add_argument("--sentences", type=int, default=100, help="test sentences decoded one at a time")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", nargs="+", default=DEFAULT_ROWS, metavar="EXPERIMENT:VARIANT",
                        help="what to measure (default: the paper's comparison)")
    parser.add_argument("--json", type=Path, help="also write the measurements to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    benchmark = config["translation"]["benchmarks"][0]
    entry = config["benchmarks"][benchmark]
    split = paper_test_set(config, benchmark)
    dataset = load_split(prepared_dir(config, benchmark), split, *benchmark_sides(entry))
    vocab_size = len(dataset.dictionary)

    rows = []
    for row in args.rows:
        experiment, _, variant = row.partition(":")
        spec = experiment_spec(config, experiment, "translation")
        settings = spec["decode"][variant or "main"]
        model, weights = load(config, benchmark, experiment, vocab_size)
        ms = {batch: latency(model, spec["model"], dataset, settings, batch, args.sentences if batch == 1 else len(dataset))
              for batch in (1, 64)}
        rows.append((experiment, variant or "main", spec["model"], weights, ms))
        print(f"  measured {row}: {ms[1]:.1f} ms (batch 1), {ms[64]:.2f} ms (batch 64)", file=sys.stderr)

    baseline = next((r[4] for r in rows if (r[0], r[1]) == BASELINE), None)
    print(f"Decoding latency on {benchmark} {split} ({hardware('cpu')}, {args.threads} thread(s)); "
          f"batch 1 over {args.sentences} sentences, batch 64 over {len(dataset)}; speedup vs AR '{BASELINE[0]}' "
          f"({BASELINE[1]} decoding)")
    print(f"{'experiment':<18} {'decoding':<14} {'weights':<10} {'ms/sent b=1':>12} {'speedup':>8} "
          f"{'ms/sent b=64':>13} {'speedup':>8}")
    speedup = {(r[0], r[1]): {b: baseline[b] / r[4][b] if baseline else None for b in (1, 64)} for r in rows}
    for experiment, variant, kind, weights, ms in rows:
        shown = ["--" if x is None else f"{x:.1f}x" for x in speedup[experiment, variant].values()]
        print(f"{experiment:<18} {variant:<14} {weights:<10} {ms[1]:>12.1f} {shown[0]:>8} {ms[64]:>13.2f} {shown[1]:>8}")
    if args.json:
        atomic_write_json(args.json, {
            "measured_on": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
            "benchmark": benchmark, "test_set": split, "hardware": hardware("cpu"), "threads": args.threads,
            "git_commits": [git_commit()], "sentences_batch1": args.sentences, "sentences_batch64": len(dataset),
            "rows": [{"experiment": experiment, "variant": variant, "model": kind, "weights": weights,
                      "ms_batch1": ms[1], "ms_batch64": ms[64],
                      "speedup_batch1": speedup[experiment, variant][1],
                      "speedup_batch64": speedup[experiment, variant][64]}
                     for experiment, variant, kind, weights, ms in rows]})
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
