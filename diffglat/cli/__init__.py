"""`diffglat <subcommand>`: every pipeline step, callable by hand and by Snakemake.

This package is the only place that ties the stages (data, models, losses, decoding, training,
metrics, report) together: the parser and the data/plan commands here, the studies in
`synthetic.py` and `translation.py`. Every subcommand takes `--config FILE [FILE ...]`, merged in order.
"""

from __future__ import annotations

import argparse
import sys

from ..config import ConfigError, load_config, section_hash
from ..data.benchmarks import preparation_inputs, prepared_dir, resolve_benchmark, study_of, unavailable
from ..data.prepare import prepare_benchmark
from ..io import Busy, CorruptFile, WriteFailed, atomic_write_json
from ..metrics.coco import JavaMissing
from .. import __version__
from ..provenance import git_commit, provenance
from ..training import Preempted
from ..training.plan import cost_plan, format_plan, measured_throughput
from . import synthetic, translation
from .families import model_args_schemas
# Exit status of a training run stopped by SIGTERM/SIGUSR1 after writing its checkpoint
# (sysexits' EX_TEMPFAIL: try again). Snakemake counts it as a failure, so a retry or a SLURM
# requeue runs the same command, which resumes.
EXIT_PREEMPTED = 75


# ---- machine-translation data ------------------------------------------------------------------
def prepare(config: dict, benchmark: str, threads: int) -> None:
    """Every file is found (else a ConfigError naming its key) before any work starts."""
    resolved = resolve_benchmark(config, benchmark)
    settings = config["prepare"]
    record = {"config_hash": section_hash(preparation_inputs(config, benchmark)), "provenance": provenance()}
    out = prepared_dir(config, benchmark)
    dag_filters = translation.dag_filters(config, study_of(config, benchmark))
    stats = prepare_benchmark(resolved, out, settings["seed"], settings["bpe_sample"], dag_filters, threads, record)
    pairs = ", ".join(f"{split} {s['pairs']:,}" for split, s in stats["splits"].items())
    print(f"prepared {benchmark} in {stats['seconds']:.0f}s: {pairs} pairs, "
          f"vocabulary {stats['vocabulary']['size']:,} -> {out}")


# ---- cost plan ------------------------------------------------------------------------------
def left_out(config: dict) -> dict[str, str]:
    """The captioning benchmarks this run cannot train (their data is missing) -> why."""
    return {name: reason for name in config["captioning"]["benchmarks"]
            if (reason := unavailable(config, name)) is not None}


def plan(config: dict, json_path: str | None, measured: bool) -> None:
    result = cost_plan(config, measured_throughput(config) if measured else None, left_out(config))
    print(format_plan(result))
    if json_path:
        atomic_write_json(json_path, {**result, "config_hash": section_hash(config), "provenance": provenance()})


# ---- entry point ----------------------------------------------------------------------------
class PrintVersion(argparse.Action):
    """--version: the package version and the git commit it runs from (asked of git only then)."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"diffglat {__version__} (git commit {git_commit()})")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diffglat", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action=PrintVersion, nargs=0, help="print the version and git commit, then exit")
    config_args = argparse.ArgumentParser(add_help=False)
    config_args.add_argument("--config", "--configfile", dest="config", nargs="+", required=True, metavar="FILE",
                             help="config YAML files, merged in order (later ones override)")
    commands = parser.add_subparsers(dest="command", required=True)

    synthetic_parser = commands.add_parser("synthetic", help="the four-modality study of paper §2.2 / appendix A")
    steps = synthetic_parser.add_subparsers(dest="step", required=True)
    steps.add_parser("data", parents=[config_args], help="generate train/valid/test pairs and stats.json")
    for name, text in (("train", "train one experiment (resumes from its last checkpoint)"),
                       ("evaluate", "decode a split and score it against the closest valid target")):
        step = steps.add_parser(name, parents=[config_args], help=text)
        step.add_argument("--experiment", required=True, help="a key of synthetic.experiments")
        if name == "evaluate":
            step.add_argument("--split", default="test", choices=("valid", "test"))

    translate_parser = commands.add_parser("translate", help="translation and paraphrasing: train and evaluate experiments")
    translate_steps = translate_parser.add_subparsers(dest="step", required=True)
    for name, text in (("train", "train one experiment on one benchmark (resumes), average its best checkpoints"),
                       ("evaluate", "decode the benchmark's test set with one decoding variant and score it")):
        step = translate_steps.add_parser(name, parents=[config_args], help=text)
        step.add_argument("--benchmark", required=True, help="one of translation.benchmarks, paraphrase.benchmarks or captioning.benchmarks")
        step.add_argument("--experiment", required=True, help="a key of the experiments of the benchmark's study")
        if name == "evaluate":
            step.add_argument("--variant", default=translation.MAIN_VARIANT,
                              help="'main' (the experiment's decode settings) or a key of its decode_variants")

    prepare_parser = commands.add_parser("prepare", parents=[config_args],
                                         help="normalise, BPE and binarise one benchmark")
    prepare_parser.add_argument("--benchmark", required=True, help="a key of benchmarks")
    prepare_parser.add_argument("--threads", type=int, default=1, help="worker processes and BPE threads")

    plan_parser = commands.add_parser("plan", parents=[config_args],
                                      help="training runs, device-hours and tokens the config implies, per paper item")
    plan_parser.add_argument("--json", metavar="FILE", help="also write the plan to this JSON file (the report reads it)")
    plan_parser.add_argument("--measured", action="store_true",
                             help="each run's throughput from the train log this config's run wrote (paths.results); "
                                  "a run without one: its family's measured mean, else plan.tokens_per_second")

    report = commands.add_parser("report", parents=[config_args], help="tables, figures and the PDF from result files")
    report.add_argument("--no-pdf", action="store_true", help="write tables and figures but skip LaTeX")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config, model_args_schemas())
        if args.command == "synthetic":
            if args.step == "data":
                synthetic.synthetic_data(config)
            elif args.step == "train":
                synthetic.synthetic_train(config, args.experiment)
            else:
                synthetic.synthetic_evaluate(config, args.experiment, args.split)
        elif args.command == "translate":
            if args.step == "train":
                translation.translate_train(config, args.benchmark, args.experiment)
            else:
                translation.translate_evaluate(config, args.benchmark, args.experiment, args.variant)
        elif args.command == "prepare":
            prepare(config, args.benchmark, args.threads)
        elif args.command == "plan":
            plan(config, args.json, args.measured)
        elif args.command == "report":
            from ..report import build_report

            build_report(config, pdf=not args.no_pdf, left_out=left_out(config))
    except (ConfigError, Busy, CorruptFile, WriteFailed, JavaMissing, FileNotFoundError, ValueError) as err:
        print(f"diffglat: error: {err}", file=sys.stderr)
        return 2
    except Preempted as err:
        print(f"diffglat: {err}", file=sys.stderr)
        return EXIT_PREEMPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
