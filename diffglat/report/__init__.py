"""The report: reads result files only, writes tidy CSVs, LaTeX tables, figures and one PDF.

reports/
  tables/table<N>.csv  tidy: table,row,column,paper,reproduced,scale
  tables/table<N>.tex  booktabs, ready to paste into a paper
  tables/data_stats.csv  the prepared benchmarks' statistics (the paper's appendix H)
  figures/figure<N>.{pdf,png,csv}
  latex/diffglat-report.tex  the document, filled in from template.tex
  diffglat-report.pdf

`report_outputs` names these files (outputs.py); `build_report` writes them (build.py). Importing
this package loads only yaml, as the Snakefile calls `report_outputs` at parse time; building the
report loads pandas and matplotlib.
"""

from __future__ import annotations

from pathlib import Path

from .outputs import report_outputs

__all__ = ["build_report", "report_outputs"]


def build_report(config: dict, pdf: bool = True, left_out: dict[str, str] | None = None) -> Path:
    """Write every report file from the result files of `config`; returns the PDF's path.
    left_out: captioning benchmarks the run could not train -> why (Table 5 says it)."""
    from .build import build_report as build

    return build(config, pdf, left_out)
