"""Regenerated paper figures, each as PDF and PNG plus the plotted values as CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..io import atomic_write_text  # noqa: E402
from .tables import layer_scores  # noqa: E402

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
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["series"] + MODALITIES)
    writer.writerows([[label] + [f"{v:.2f}" for v in values] for label, values in series])
    atomic_write_text(out_stem.with_suffix(".csv"), buffer.getvalue())
    return missing
