"""Regenerated paper figures, each as PDF and PNG plus the plotted values as CSV."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .tables import layer_scores, write_csv

MODALITIES = ["I", "II", "III", "IV", "none"]
# Figure 2 series: (label, experiment, layer) — the PML model's middle and last layers as in the
# paper, with the vanilla NAR and AR outputs and the references for comparison.
FIGURE2_SERIES = [
    ("references", None, None),
    ("AR", "ar", "final"),
    ("NAR (last layer)", "nar", "final"),
    ("PML middle layer", "nar_pml", "middle"),
    ("PML last layer", "nar_pml", "final"),
]


def save_figure(fig, out_stem: Path) -> None:
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".pdf", ".png"):
        tmp = out_stem.with_name(f".{out_stem.name}.tmp{suffix}")
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
        tmp.replace(out_stem.with_suffix(suffix))
    plt.close(fig)


def figure2(stats: dict | None, scores: dict[str, dict], out_stem: Path) -> list[str]:
    """Modality distribution of outputs; returns the labels of series that were not run."""
    series, missing = [], []
    for label, experiment, which in FIGURE2_SERIES:
        if experiment is None:
            distribution = stats["reference_scores"]["modality_distribution"] if stats else None
        else:
            distribution = layer_scores(scores[experiment], which)["modality_distribution"] if experiment in scores else None
        if distribution is None:
            missing.append(label)
        else:
            series.append((label, [distribution[m] for m in MODALITIES]))
    fig, ax = plt.subplots(figsize=(7.0, 3.2))
    width = 0.8 / max(len(series), 1)
    for i, (label, values) in enumerate(series):
        ax.bar([m + (i - (len(series) - 1) / 2) * width for m in range(len(MODALITIES))], values, width, label=label)
    ax.set_xticks(range(len(MODALITIES)), ["I", "II", "III", "IV", "no match"])
    ax.set_xlabel("modality of the closest valid target")
    ax.set_ylabel("share of test outputs (%)")
    ax.set_ylim(0, 100)
    if series:
        ax.legend(fontsize=8, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, out_stem)
    write_csv(out_stem.with_suffix(".csv"), ["series"] + MODALITIES,
              [[label] + [f"{v:.2f}" for v in values] for label, values in series])
    return missing


def bleu_figure(spec: dict, results: dict, benchmarks: list[str], columns: dict, out_stem: Path) -> list[str]:
    """One panel per benchmark: our test BLEU per point (bars or a line), the paper's beside it
    where it prints a value. Returns the labels of points that were not run."""
    rows, missing = [], []
    for benchmark in benchmarks:
        for point in spec["points"]:
            label = str(point.get("label", point.get("x")))
            scores = results.get((benchmark, point["experiment"], point.get("variant", "main")))
            paper = point.get("paper", {}).get(columns.get(benchmark))
            if scores is None:
                missing.append(f"{spec['title']}: {label} ({benchmark})")
            rows.append((benchmark, label, scores["bleu"] if scores else None, paper))
    fig, axes = plt.subplots(1, len(benchmarks), figsize=(4.2 * len(benchmarks), 3.0), squeeze=False)
    for ax, benchmark in zip(axes[0], benchmarks):
        mine = [(label, ours, paper) for b, label, ours, paper in rows if b == benchmark]
        labels = [label for label, _, _ in mine]
        ours = [float("nan") if o is None else o for _, o, _ in mine]
        if spec["kind"] == "line":
            ax.plot([float(x) for x in labels], ours, marker="o", label=f"ours ({benchmark})")
            ax.set_xlabel(spec["x_label"])
            ax.set_xticks([float(x) for x in labels])
        else:
            papers = [p for _, _, p in mine]
            has_paper = any(p is not None for p in papers)
            width = 0.38 if has_paper else 0.6
            positions = range(len(labels))
            ax.bar([p - (width / 2 if has_paper else 0) for p in positions], ours, width, label=f"ours ({benchmark})")
            if has_paper:
                ax.bar([p + width / 2 for p in positions], [float("nan") if p is None else p for p in papers], width,
                       label=f"paper ({columns.get(benchmark)})")
            ax.set_xticks(list(positions), labels, fontsize=8)
        if all(o is None for _, o, _ in mine):
            ax.text(0.5, 0.5, "not run", transform=ax.transAxes, ha="center", va="center", style="italic")
        ax.set_ylabel("test BLEU")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(spec["title"], fontsize=10)
    save_figure(fig, out_stem)
    write_csv(out_stem.with_suffix(".csv"), ["benchmark", "point", "bleu", "paper_bleu"],
              [[b, label, "" if o is None else f"{o:.2f}", "" if p is None else f"{p:.2f}"] for b, label, o, p in rows])
    return missing


def learning_curves(results: dict, benchmark: str, out_stem: Path) -> bool:
    """Validation BLEU against training step of every trained translation model on one benchmark
    (the evidence for comparisons between models that have not converged). False if none."""
    curves = {experiment: s["training"]["validations"] for (b, experiment, variant), s in results.items()
              if b == benchmark and variant == "main"}
    if not curves:
        return False
    # Two panels, so that each has few enough lines to tell apart: the baselines (a log step axis,
    # as a convergence run may train far longer than the rest) and the DiffGLAT variants.
    panels = {"baselines": {e: v for e, v in curves.items() if not e.startswith("diffglat")},
              "DiffGLAT variants": {e: v for e, v in curves.items() if e.startswith("diffglat")}}
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 4.0), sharey=True)
    for ax, (title, panel) in zip(axes, panels.items()):
        ax.set_prop_cycle(color=plt.get_cmap("tab20").colors)
        for experiment, validations in sorted(panel.items()):
            ax.plot([v["step"] for v in validations], [v["score"] for v in validations], marker=".",
                    label=experiment)
        if title == "baselines" and panel:
            ax.set_xscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        if panel:
            ax.legend(fontsize=6, ncol=2)
    axes[0].set_ylabel("validation BLEU (greedy)")
    save_figure(fig, out_stem)
    write_csv(out_stem.with_suffix(".csv"), ["experiment", "step", "valid_bleu"],
              [[e, v["step"], f"{v['score']:.2f}"] for e, vs in sorted(curves.items()) for v in vs])
    return True


def diffusion_figure(results: dict, benchmark: str, out_stem: Path) -> bool:
    """Per DiffGLAT run, the fraction of each transition's intermediate target that differs from y0
    over training (train_stats.csv, logged by the model): the evidence that a diffusion process takes
    place (0 everywhere is deep supervision on y0). False if no run logged any."""
    runs = {}
    for (b, experiment, variant), s in sorted(results.items()):
        rows = s["training"].get("window_stats") or []
        if b == benchmark and variant == "main" and rows:
            runs[experiment] = rows
    if not runs:
        return False
    columns = min(4, len(runs))
    lines = (len(runs) + columns - 1) // columns
    fig, axes = plt.subplots(lines, columns, figsize=(2.6 * columns, 2.1 * lines), sharey=True, squeeze=False)
    for ax, (experiment, rows) in zip(axes.flat, runs.items()):
        ax.set_prop_cycle(color=plt.get_cmap("tab10").colors)
        names = sorted({r["name"] for r in rows}, key=lambda n: int(n.removeprefix("differ_t")))
        for name in names:
            points = [(r["step"], r["value"]) for r in rows if r["name"] == name]
            ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", markersize=3, linewidth=1,
                    label=name.replace("differ_t", "transition "))
        ax.set_title(experiment, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=5)
    for ax in axes.flat[len(runs):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("share of targets ≠ y0", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("training step", fontsize=8)
    fig.tight_layout()
    save_figure(fig, out_stem)
    write_csv(out_stem.with_suffix(".csv"), ["experiment", "step", "transition", "differ_fraction"],
              [[e, r["step"], r["name"].removeprefix("differ_t"), f"{r['value']:.4f}"]
               for e, rows in runs.items() for r in rows])
    return True
