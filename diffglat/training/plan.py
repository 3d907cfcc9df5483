"""What a config's training costs, per item of the paper: runs, device-hours and tokens.

A study is a config section with `train` and `experiments` (`synthetic`, `translation`,
`paraphrase`; one added later is planned the same way); each experiment is one training run of
max_steps updates of max_tokens x update_freq target tokens, on each of the study's `benchmarks` if
it has them; a run that branches off another (`branch_from`) costs only the steps after its parent's.
Device-hours divide a run's tokens by one device's throughput; the wall-clock hours divide them
further by the GPUs the resources of the study's training step give the run (`translate_train` for
translation and paraphrasing, `<study>_train` for others). Batches are filled up to
max_tokens, so the tokens are an upper bound.

The throughput of a run: measured, when the plan is given the runs' train logs (`measured`: the
time-weighted tokens per second of the run's own log; `diffglat plan --measured` reads the logs the
config's own runs wrote), else the mean measured throughput of the runs of its model family in the
same study, else `plan.tokens_per_second` (per study, else its `default`). Model families differ
several-fold (a DAG model's step costs about twice an AR step), so a study-wide figure is only a
first guess.
"""

from __future__ import annotations

import csv
from pathlib import Path


# The workflow step (config `resources` key) that trains a study's runs, where not `<study>_train`.
TRAINING_STEP = {"translation": "translate_train", "paraphrase": "translate_train", "captioning": "translate_train"}


def studies(config: dict) -> dict[str, dict]:
    return {name: section for name, section in config.items()
            if isinstance(section, dict) and {"train", "experiments"} <= set(section)}


def run_cost(name: str, train: dict, throughput: float, devices: int, source: str = "config") -> dict:
    tokens_per_step = train["max_tokens"] * train["update_freq"]
    tokens = train["max_steps"] * tokens_per_step
    device_hours = tokens / throughput / 3600
    return {"experiment": name, "steps": train["max_steps"], "tokens_per_step": tokens_per_step, "tokens": tokens,
            "tokens_per_second": throughput, "throughput_from": source,
            "devices": devices, "device_hours": device_hours, "wall_hours": device_hours / devices}


def log_throughput(path: Path) -> float | None:
    """Target tokens per second over a train_log.csv (step, loss, lr, tokens_per_s, elapsed_s): each
    window's rate weighted by its length in elapsed time. The first window is left out when there
    are others (its start is not logged: a branch's clock starts at its parent's). None: no rows."""
    with path.open(newline="") as f:
        rows = [(float(r["tokens_per_s"]), float(r["elapsed_s"])) for r in csv.DictReader(f)]
    if len(rows) < 2:
        return rows[0][0] if rows else None
    windows = [(rate, end - start) for (rate, end), (_, start) in zip(rows[1:], rows) if end > start]
    seconds = sum(length for _, length in windows)
    return sum(rate * length for rate, length in windows) / seconds if seconds else None


def planned_runs(study: str, section: dict, left_out: dict[str, str] | None = None) -> list[tuple[str, Path, dict]]:
    """A study's training runs: (name, its folder under paths.results, the experiment's settings);
    one per benchmark and experiment (name benchmark/experiment) or per experiment. left_out:
    benchmarks this run cannot train (name -> why), planned without them."""
    return [(f"{benchmark}/{experiment}" if benchmark else experiment, Path(benchmark or study) / experiment, settings)
            for benchmark in section.get("benchmarks", [None]) if benchmark not in (left_out or {})
            for experiment, settings in section["experiments"].items()]


def measured_throughput(config: dict) -> dict[str, dict[str, float]]:
    """study -> run name -> tokens/s, from the train logs the config's runs wrote under paths.results."""
    results = Path(config["paths"]["results"])
    measured: dict[str, dict[str, float]] = {}
    for study, section in studies(config).items():
        for name, folder, _ in planned_runs(study, section):
            path = results / folder / "train_log.csv"
            rate = log_throughput(path) if path.is_file() else None
            if rate:
                measured.setdefault(study, {})[name] = rate
    return measured


def cost_plan(config: dict, measured: dict[str, dict[str, float]] | None = None,
              left_out: dict[str, str] | None = None) -> dict:
    """measured: study -> run name -> tokens/s (measured_throughput); None plans from the config alone.
    left_out: benchmark -> why this run cannot train it (a captioning benchmark without its data)."""
    plan = config["plan"]
    items = []
    for study, section in studies(config).items():
        resources = config["resources"].get(TRAINING_STEP.get(study, f"{study}_train"), config["resources"]["default"])
        devices = max(resources["gpu"], 1)
        configured = plan["tokens_per_second"].get(study, plan["tokens_per_second"]["default"])
        study_measured = (measured or {}).get(study, {})
        planned = planned_runs(study, section, left_out)
        if not planned:  # a study without benchmarks (paraphrase.benchmarks: []), or none it can train
            continue
        by_family: dict[str, list[float]] = {}
        for name, _, settings in planned:
            if name in study_measured:
                by_family.setdefault(settings["model"], []).append(study_measured[name])
        runs = []
        for name, _, settings in planned:
            family = by_family.get(settings["model"])
            if name in study_measured:
                throughput, source = study_measured[name], "measured"
            elif family:
                throughput, source = sum(family) / len(family), "family"
            else:
                throughput, source = configured, "config"
            train = {**section["train"], **settings.get("train", {})}
            parent = settings.get("branch_from")
            if parent:  # it trains on from its parent's last step: only its own steps cost
                train["max_steps"] -= {**section["train"], **section["experiments"][parent].get("train", {})}["max_steps"]
            runs.append(run_cost(name, train, throughput, devices, source))
        tokens, device_hours = sum(r["tokens"] for r in runs), sum(r["device_hours"] for r in runs)
        items.append({"paper": plan["paper_items"].get(study, f"{study} study"), "study": study,
                      # the study's effective rate: its tokens over its device-seconds
                      "tokens_per_second": tokens / (device_hours * 3600) if device_hours else configured,
                      "measured_runs": sum(r["throughput_from"] == "measured" for r in runs), "runs": runs,
                      "tokens": tokens, "device_hours": device_hours})
    return {"config": config["name"], "scale": config["scale"], "device": plan["device"], "items": items,
            "runs": sum(len(item["runs"]) for item in items), "tokens": sum(item["tokens"] for item in items),
            "device_hours": sum(item["device_hours"] for item in items), "left_out": dict(left_out or {})}


def human(number: float) -> str:
    """1234567 -> '1.2M'."""
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= factor:
            return f"{number / factor:.1f}{suffix}"
    return f"{number:.0f}"


def format_plan(plan: dict) -> str:
    device = plan["device"]
    lines = [f"Training plan of config {plan['config']!r} (scale {plan['scale']}); device-hours are {device}-hours."]
    for item in plan["items"]:
        lines.append(f"\n{item['paper']} ({item['study']}, {human(item['tokens_per_second'])} tokens/s per {device}, "
                     f"{item['measured_runs']} of {len(item['runs'])} runs measured): "
                     f"{len(item['runs'])} runs, {item['device_hours']:,.2f} {device}-hours, {human(item['tokens'])} tokens")
        width = max(len(run["experiment"]) for run in item["runs"])
        for run in item["runs"]:
            lines.append(f"  {run['experiment']:<{width}} {run['steps']:>9,} steps x {human(run['tokens_per_step']):>6} tokens "
                         f"= {human(run['tokens']):>6} tokens  at {human(run['tokens_per_second']):>5} tokens/s "
                         f"({run['throughput_from']}) on {run['devices']} x {device}: "
                         f"{run['wall_hours']:,.2f} h, {run['device_hours']:,.2f} {device}-hours")
    lines += [f"\nLeft out: {name}: {why}" for name, why in plan.get("left_out", {}).items()]
    lines.append(f"\nTotal: {plan['runs']} training runs, {plan['device_hours']:,.2f} {device}-hours, "
                 f"{human(plan['tokens'])} target tokens.")
    return "\n".join(lines)
