"""What a config's training costs, per item of the paper: runs, device-hours and tokens.

A study is a config section with `train` and `experiments` (`synthetic`, `translation`; one
added later is planned the same way); each experiment is one training run of max_steps updates
of max_tokens x update_freq target tokens, on each of the study's `benchmarks` if it has them. Device-hours divide a run's tokens by one device's
throughput (`plan.tokens_per_second`, per study, else its `default`); the wall-clock hours
divide them further by the GPUs the study's `<study>_train` resources give the run.
Batches are filled up to max_tokens, so the tokens are an upper bound.
"""

from __future__ import annotations


def studies(config: dict) -> dict[str, dict]:
    return {name: section for name, section in config.items()
            if isinstance(section, dict) and {"train", "experiments"} <= set(section)}


def run_cost(name: str, train: dict, throughput: float, devices: int) -> dict:
    tokens_per_step = train["max_tokens"] * train["update_freq"]
    tokens = train["max_steps"] * tokens_per_step
    device_hours = tokens / throughput / 3600
    return {"experiment": name, "steps": train["max_steps"], "tokens_per_step": tokens_per_step, "tokens": tokens,
            "devices": devices, "device_hours": device_hours, "wall_hours": device_hours / devices}


def cost_plan(config: dict) -> dict:
    plan = config["plan"]
    items = []
    for study, section in studies(config).items():
        resources = config["resources"].get(f"{study}_train", config["resources"]["default"])
        devices = max(resources["gpu"], 1)
        throughput = plan["tokens_per_second"].get(study, plan["tokens_per_second"]["default"])
        runs = []
        for benchmark in section.get("benchmarks", [None]):
            for experiment, settings in section["experiments"].items():
                runs.append(run_cost(f"{benchmark}/{experiment}" if benchmark else experiment,
                                     {**section["train"], **settings.get("train", {})}, throughput, devices))
        items.append({"paper": plan["paper_items"].get(study, f"{study} study"), "study": study,
                      "tokens_per_second": throughput, "runs": runs,
                      "tokens": sum(r["tokens"] for r in runs), "device_hours": sum(r["device_hours"] for r in runs)})
    return {"config": config["name"], "scale": config["scale"], "device": plan["device"], "items": items,
            "runs": sum(len(item["runs"]) for item in items), "tokens": sum(item["tokens"] for item in items),
            "device_hours": sum(item["device_hours"] for item in items)}


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
        lines.append(f"\n{item['paper']} ({item['study']}, {human(item['tokens_per_second'])} tokens/s per {device}): "
                     f"{len(item['runs'])} runs, {item['device_hours']:,.2f} {device}-hours, {human(item['tokens'])} tokens")
        for run in item["runs"]:
            lines.append(f"  {run['experiment']:<16} {run['steps']:>9,} steps x {human(run['tokens_per_step']):>6} tokens "
                         f"= {human(run['tokens']):>6} tokens  on {run['devices']} x {device}: "
                         f"{run['wall_hours']:,.2f} h, {run['device_hours']:,.2f} {device}-hours")
    lines.append(f"\nTotal: {plan['runs']} training runs, {plan['device_hours']:,.2f} {device}-hours, "
                 f"{human(plan['tokens'])} target tokens.")
    return "\n".join(lines)
