"""Appendix: the prepared benchmarks (translation and paraphrasing), as the paper's appendix H, from their stats.json.

reports/tables/data_stats.csv  tidy, table "H": one row per benchmark, one column per quantity;
                               `paper` holds the paper's training-set size for the language pair
A benchmark the run selects but has not prepared shows "not prepared" (empty in the CSV).
"""

from __future__ import annotations

from pathlib import Path

from ..config import STUDIES
from ..io import read_json
from .tables import Cell, latex_escape, write_tidy_csv

# Appendix H: training pairs of the paper's corpora, shown beside each benchmark tested on the
# paper's test set for that pair: (languages sorted, first test set) -> pairs.
PAPER_TRAIN_PAIRS = {("de", "en", "newstest2014"): "4.5M", ("en", "zh", "newstest2017"): "20M",
                     ("en", "fr", "newstest2014"): "35M", ("en", "ro", "newstest2016"): "0.6M",
                     ("en", "es", "newstest2013"): "12M"}


def _train(s: dict) -> dict:
    return s["splits"]["train"]


def _test(s: dict) -> dict:
    return s["splits"][s["test_sets"][0]]


# (column, value from a stats.json): what the appendix shows per benchmark. Lengths are train means.
QUANTITIES = [
    ("direction", lambda s: f"{s['source']}-{s['target']}"),
    ("train pairs", lambda s: _train(s)["pairs_read"]),
    ("dropped empty", lambda s: _train(s)["dropped_empty"]),
    ("dropped overlap", lambda s: _train(s)["dropped_overlap"]),
    ("dropped repeats", lambda s: _train(s)["dropped_duplicate"]),
    ("kept by filters", lambda s: s["train_filter"]["kept"]),
    # DA-Transformer's filter on top, per graph size (e.g. "2x: 28964")
    ("kept for DAG models", lambda s: ", ".join(f"{g}: {f['kept']}" for g, f in s["dag_filter"].items()) or "--"),
    ("valid pairs", lambda s: s["splits"]["valid"]["pairs"]),
    ("test set", lambda s: s["test_sets"][0]),
    ("test pairs", lambda s: _test(s)["pairs"]),
    ("vocabulary", lambda s: s["vocabulary"]["size"]),
    ("mean src length", lambda s: f"{_train(s)['length'][s['sides'][0]]['mean']:.1f}"),
    ("mean tgt length", lambda s: f"{_train(s)['length'][s['sides'][1]]['mean']:.1f}"),
]


def prepared_benchmarks(config: dict) -> list[str]:
    """prepare.benchmarks, then those the studies add (the order of data.benchmarks.selected_benchmarks)."""
    return list(dict.fromkeys(name for key in ("prepare", *STUDIES) for name in config[key]["benchmarks"]))


def data_stats_cells(config: dict) -> list[Cell]:
    cells = []
    for name in prepared_benchmarks(config):
        path = Path(config["paths"]["data"]) / "prepared" / name / "stats.json"
        stats = read_json(path, missing_ok=True)
        entry = config["benchmarks"][name]
        paper = PAPER_TRAIN_PAIRS.get((*sorted((entry["source"], entry["target"])), next(iter(entry["test"]))), "")
        for column, value in QUANTITIES:
            cells.append(Cell("H", name, column, paper if column == "train pairs" else "",
                              str(value(stats)) if stats else "", config["scale"]))
    return cells


def data_stats_tex(cells: list[Cell]) -> str:
    """One row per benchmark; the paper's training size beside ours."""
    if not cells:
        return r"No translation benchmark is selected (config \texttt{prepare.benchmarks} is empty)." + "\n"
    columns = [column for column, _ in QUANTITIES]
    rows = {}
    for cell in cells:
        rows.setdefault(cell.row, {})[cell.column] = cell
    def stacked(name):
        return r"\shortstack{" + r"\\".join(latex_escape(name).split()) + "}"  # one word a line
    header = " & ".join(map(stacked, ["benchmark", "paper train", *columns]))
    lines = [r"\begin{table}[H]", r"\centering", r"\setlength{\tabcolsep}{3pt}", r"\resizebox{\textwidth}{!}{%",
             f"\\begin{{tabular}}{{l{'r' * (len(columns) + 1)}}}", r"\toprule", header + r" \\", r"\midrule"]
    for name, by_column in rows.items():
        paper = by_column["train pairs"].paper or "--"
        if not any(c.reproduced for c in by_column.values()):
            lines.append(f"{latex_escape(name)} & {paper} & \\multicolumn{{{len(columns)}}}{{l}}{{\\textit{{not prepared}}}} \\\\")
            continue
        values = [latex_escape(by_column[column].reproduced) for column in columns]
        lines.append(" & ".join([latex_escape(name), paper, *values]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}",
              r"\addtocounter{table}{-1}\renewcommand{\thetable}{S2}",  # a supplementary table, not the paper's
              (r"\caption{Prepared benchmarks (cf.\ the paper's appendix H): training pairs read, dropped for an "
               r"empty side, for sharing a sentence with a valid or test set (for paraphrasing: on either side), or "
               r"as a repeat of a pair (where the benchmark deduplicates), kept by the length "
               r"filters of training (maximum length, length ratio, and the DA-Transformer filter: target at "
               r"most half the decoder length), of which the DA-Transformer filter alone removes the "
               r"DAT-filtered; mean training lengths in BPE tokens (an image source: regions).}"),
              r"\label{tab:data}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def data_stats_appendix(config: dict, csv_path: Path) -> str:
    """Write the tidy CSV; return the appendix's LaTeX."""
    cells = data_stats_cells(config)
    write_tidy_csv(cells, csv_path)
    return data_stats_tex(cells)
