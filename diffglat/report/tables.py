"""Regenerated paper tables in tidy form (table,row,column,paper,reproduced,scale) and as LaTeX.

Only result files are read (data stats and score JSONs); a missing one leaves its cells empty and
the report says "not run", never a made-up value.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from pathlib import Path

import pandas as pd

from ..io import atomic_write_text

TIDY_COLUMNS = ["table", "row", "column", "paper", "reproduced", "scale"]
# Table 2 columns: (paper's column name, experiment, which decoder layer) — None = the references.
TABLE2_COLUMNS = [
    ("DATA", None, None),
    ("AR", "ar", "final"),
    ("NAR", "nar", "final"),
    ("NAR w/ Middle", "nar_pml", "middle"),
    ("PML Last", "nar_pml", "final"),
]
TABLE2_ROWS = [("Token Acc.", "token_accuracy"), ("Seq Acc.", "sequence_accuracy")]


@dataclass
class Cell:
    table: str
    row: str
    column: str
    paper: str
    reproduced: str
    scale: str


def layer_scores(scores: dict, which: str) -> dict:
    """Scores of the 'final' or the PML 'middle' decoder layer of one scores.json."""
    layer = scores["final_layer"] if which == "final" else scores["pml_middle_layer"]
    return scores["layers"][str(layer)]


def fmt(value, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def table1_cells(paper: dict, stats: dict | None, scale: str) -> list[Cell]:
    cells = []
    for modality in paper["example_targets"]:
        ours_example = stats["paper_example"]["targets"][modality] if stats else None
        cells.append(Cell("1", modality, "target of 52 1 937 1234 (N=5000)",
                          " ".join(map(str, paper["example_targets"][modality])),
                          " ".join(map(str, ours_example)) if ours_example else "", scale))
        for split in ("train", "test"):
            share = None
            if stats:
                counts = stats["modality_counts"][split]
                share = 100.0 * counts[modality] / sum(counts.values())
            cells.append(Cell("1", modality, f"{split} share (%)", "", fmt(share), scale))
    return cells


def table2_cells(paper: dict, stats: dict | None, scores: dict[str, dict], scale: str) -> list[Cell]:
    cells = []
    for row, metric in TABLE2_ROWS:
        for column, experiment, which in TABLE2_COLUMNS:
            if experiment is None:
                value = stats["reference_scores"][metric] if stats else None
            else:
                value = layer_scores(scores[experiment], which)[metric] if experiment in scores else None
            cells.append(Cell("2", row, column, fmt(paper["rows"][row][column]), fmt(value), scale))
    return cells


def write_csv(path: str | Path, columns: list[str], rows: list) -> None:
    """A header and one line per row, "\\n"-terminated, quoted only where needed (as the csv module
    does). Values are written as given: dtype=object keeps pandas from turning ints into floats."""
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    atomic_write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def write_tidy_csv(cells: list[Cell], path: str | Path) -> None:
    write_csv(path, TIDY_COLUMNS, [astuple(c) for c in cells])


def latex_escape(text: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                          (">=", r"$\geq$"), ("<=", r"$\leq$")):
        text = text.replace(char, escaped)
    return text


def paper_vs_ours_tex(cells: list[Cell], caption: str, label: str) -> str:
    """A booktabs table with one row per (row, column) pair: paper | reproduced."""
    lines = [r"\begin{table}[ht]", r"\centering", r"\small", r"\begin{tabular}{llll}", r"\toprule",
             r"Row & Column & Paper & Reproduced \\", r"\midrule"]
    previous = None
    for cell in cells:
        row = latex_escape(cell.row) if cell.row != previous else ""
        if previous is not None and cell.row != previous:
            lines.append(r"\addlinespace")
        previous = cell.row
        reproduced = latex_escape(cell.reproduced) if cell.reproduced else r"\textit{not run}"
        lines.append(f"{row} & {latex_escape(cell.column)} & {latex_escape(cell.paper) or '--'} & {reproduced} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}", f"\\caption{{{caption}}}", f"\\label{{{label}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def table2_tex(cells: list[Cell], caption: str) -> str:
    """Table 2 laid out as in the paper, each model with a Paper and an Ours column."""
    columns = [name for name, _, _ in TABLE2_COLUMNS]
    lookup = {(c.row, c.column): c for c in cells}
    spec = "l" + "rr" * len(columns)
    header = " & ".join(f"\\multicolumn{{2}}{{c}}{{{latex_escape(name)}}}" for name in columns)
    rules = " ".join(f"\\cmidrule(lr){{{2 + 2 * i}-{3 + 2 * i}}}" for i in range(len(columns)))
    lines = [r"\begin{table}[ht]", r"\centering", r"\small", f"\\begin{{tabular}}{{{spec}}}", r"\toprule",
             f"Model & {header} \\\\", rules, " & ".join([""] + ["Paper & Ours"] * len(columns)) + r" \\", r"\midrule"]
    for row, _ in TABLE2_ROWS:
        values = []
        for name in columns:
            cell = lookup[(row, name)]
            values += [cell.paper or "--", cell.reproduced or r"\textit{n/r}"]
        lines.append(f"{row} & " + " & ".join(values) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", f"\\caption{{{caption}}}", r"\label{tab:table2}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def memorisation_probe_tex(scores: dict[str, dict]) -> str:
    """Per NAR layer, on training pairs: accuracy against each pair's own reference vs. closest target.

    Evidence for the notes: a NAR can only output one modality consistently if it commits to one
    from the source alone, which at this scale it learns only by memorising training modalities.
    """
    lines = [r"\begin{table}[ht]", r"\centering", r"\small", r"\begin{tabular}{llrrr}", r"\toprule",
             r"Experiment & Layer & Own reference tok. & Closest tok. & Closest seq. \\", r"\midrule"]
    for name, s in scores.items():
        for layer, probe in s.get("train_probe", {}).items():
            tag = " (PML, 2 modalities)" if s.get("pml_middle_layer") == int(layer) else ""
            lines.append(f"{latex_escape(name)} & {layer}{tag} & {probe['own_reference_token_accuracy']:.1f} & "
                         f"{probe['token_accuracy']:.1f} & {probe['sequence_accuracy']:.1f} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}",
              r"\addtocounter{table}{-1}\renewcommand{\thetable}{S1}",  # a supplementary table, not the paper's
              (r"\caption{Memorisation probe on training pairs (\%): accuracy against each pair's own reference "
               r"(chance: 25\% for four modalities, 50\% for PML's two) and against the closest valid target.}"),
              r"\label{tab:probe}", r"\end{table}"]
    return "\n".join(lines) + "\n"
