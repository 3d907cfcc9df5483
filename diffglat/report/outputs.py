"""The report's output files, named in one place: the report writes these paths and the Snakefile's
report rule declares them (`report_outputs`). The Snakefile calls this at parse time, so it loads
nothing heavier than yaml.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

# The paper's tables the report regenerates: the synthetic study's, the translation tables built
# from the rows of paper_numbers.yaml, and Table 5 (paraphrasing and captioning).
SYNTHETIC_TABLES = ("1", "2")
TRANSLATION_TABLES = ("3", "6", "8")
PARAPHRASE_TABLE = "5"
TABLES = tuple(sorted(SYNTHETIC_TABLES + TRANSLATION_TABLES + (PARAPHRASE_TABLE,), key=int))
TABLE_FORMATS = ("csv", "tex")
# The synthetic study's figure; the translation figures are the `figures` of paper_numbers.yaml.
SYNTHETIC_FIGURE = "figure2"
FIGURE_FORMATS = ("pdf", "png", "csv")


def packaged_yaml(name: str) -> dict:
    return yaml.safe_load(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


def paper_figures(paper: dict) -> list[str]:
    """The paper's figures the report regenerates, in the report's order: figure<N> names."""
    return [SYNTHETIC_FIGURE, *paper["figures"]]


def table_path(config: dict, number: str, ext: str) -> Path:
    return Path(config["paths"]["reports"]) / "tables" / f"table{number}.{ext}"


def data_stats_path(config: dict) -> Path:
    return Path(config["paths"]["reports"]) / "tables" / "data_stats.csv"


def figure_stem(config: dict, name: str) -> Path:
    """figures/<name>, written as <name>.pdf, .png and .csv."""
    return Path(config["paths"]["reports"]) / "figures" / name


def tex_path(config: dict) -> Path:
    return Path(config["paths"]["reports"]) / "latex" / "diffglat-report.tex"


def pdf_path(config: dict) -> Path:
    return Path(config["paths"]["reports"]) / "diffglat-report.pdf"


def summary_path(config: dict) -> Path:
    return Path(config["paths"]["reports"]) / "summary.json"


def report_outputs(config: dict) -> dict[str, list[str]]:
    """The files `diffglat report` always writes, by kind (the report rule's named outputs). The
    supplementary figures (learning curves, diffusion shares) depend on which results exist and are
    not listed."""
    figures = paper_figures(packaged_yaml("paper_numbers.yaml"))
    return {"pdf": [str(pdf_path(config))], "summary": [str(summary_path(config))],
            "tables": [str(table_path(config, n, ext)) for n in TABLES for ext in TABLE_FORMATS],
            "data_stats": [str(data_stats_path(config))],
            "figures": [str(figure_stem(config, name).with_suffix(f".{ext}")) for name in figures
                        for ext in FIGURE_FORMATS]}
