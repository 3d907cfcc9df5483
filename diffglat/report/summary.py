"""The run's figures in one file, `reports/<scale>/summary.json`: what a README, a note or a paper
quotes of a run, each read from its result files, under a flat name (`multi30k_en_de.ar.main.bleu`).
`scripts/readme_figures.py` renders the README's quoted figures from such a file (kept for the
run it came from in docs/runs/) and checks a new run against it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from .translation import MAIN_VARIANT

# The start and end lines workflow/scripts/logged frames each job run with: "=== <UTC time> started (..."
LOG_STAMP = "%Y-%m-%dT%H:%M:%SZ"


def job_span_seconds(logs: Path) -> float | None:
    """From the first job's start to the latest stamped line (start, end, rerun marker) among the job
    logs in `logs`; None without logs. The logs keep every run of a job, so this is the span of all
    the runs the results came from, pauses between reruns included; run by the report job, its
    latest line is the report's own start."""
    stamps = []
    for log in logs.glob("*.log"):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            words = line.split(maxsplit=2)
            if len(words) == 3 and words[0] == "===" and words[2].startswith(("started (", "ended: ", "rerun; ")):
                try:
                    stamps.append(datetime.strptime(words[1], LOG_STAMP))
                except ValueError:  # a job's own output that looks like the wrapper's
                    continue
    return (max(stamps) - min(stamps)).total_seconds() if stamps else None


def own_seconds(training: dict) -> float:
    """A run's training time without the shared warm-up of the run it branched off."""
    return training["wall_seconds"] - training.get("branched_seconds", 0.0)


def run_figures(config: dict, stats: dict | None, scores: dict[str, dict], trained: dict[tuple, dict]) -> dict:
    """summary.json: the config and provenance, then `figures`, name -> number (the report's run
    summary takes its times from here). scores: the synthetic study's; trained: (benchmark,
    experiment, variant) -> scores of the translation, paraphrase and captioning runs."""
    figures: dict[str, float | int | None] = {}
    results = [*scores.values(), *trained.values()]
    span = job_span_seconds(Path(config["paths"]["results"]) / "logs")
    # one training per synthetic experiment and per (benchmark, experiment), whatever its decodings
    trainings = [s["training"] for s in scores.values()] + list(
        {(b, e): s["training"] for (b, e, _), s in trained.items()}.values())
    figures["workflow_minutes"] = None if span is None else span / 60
    figures["training_minutes"] = sum(own_seconds(t) for t in trainings) / 60
    figures["decoding_minutes"] = sum(s["decode_seconds"] for s in results) / 60
    for name, s in sorted(scores.items()):
        final = s["layers"][str(s["final_layer"])]
        figures[f"synthetic.{name}.token_accuracy"] = final["token_accuracy"]
        figures[f"synthetic.{name}.sequence_accuracy"] = final["sequence_accuracy"]
    for (benchmark, experiment, variant), s in sorted(trained.items()):
        figures[f"{benchmark}.{experiment}.{variant}.bleu"] = s["bleu"]
        figures[f"{benchmark}.{experiment}.{variant}.chrf"] = s["chrf"]
        for metric, value in s.get("coco", {}).items():  # paraphrasing and captioning: pycocoevalcap's
            figures[f"{benchmark}.{experiment}.{variant}.coco_{metric}"] = value
        if variant == MAIN_VARIANT:
            t = s["training"]
            figures[f"{benchmark}.{experiment}.steps"] = t["steps"]
            figures[f"{benchmark}.{experiment}.plateau_step"] = t.get("plateau_step")
            figures[f"{benchmark}.{experiment}.training_minutes"] = own_seconds(t) / 60
    records = [s["provenance"] for s in results] + ([stats["provenance"]] if stats else [])
    return {"config": config["name"], "scale": config["scale"],
            "git_commits": sorted({r["git_commit"] for r in records}),
            "hardware": sorted({r["hardware"] for r in records}),
            "libraries": records[0]["libraries"] if records else {},
            "precisions": sorted({s["training"]["precision"] for s in results}),
            "figures": figures}
