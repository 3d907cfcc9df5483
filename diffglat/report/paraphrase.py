"""Table 5: paraphrasing (QQP) and image captioning (MS-COCO), the paper's rows beside ours.

Our numbers are the COCO caption tools' scores (pycocoevalcap, the paper's appendix H) of each
model's test output, read from its `<testset>.main.scores.json` (`coco`), with sacreBLEU beside
them for reference: BLEU-4 and ROUGE-L on each paraphrase benchmark, BLEU-4, METEOR, ROUGE-L and
CIDEr on each captioning benchmark. A captioning benchmark the run left out (its data is missing)
keeps the paper's values, and the table says why ours are empty.
"""

from __future__ import annotations

from .tables import Cell, fmt, latex_escape
from .translation import MAIN_VARIANT

# (our column, the paper's column, the scores.json field holding ours)
QQP_COLUMNS = [("BLEU-4", "QQP BLEU-4", ("coco", "bleu4")), ("ROUGE-L", "QQP ROUGE-L", ("coco", "rouge_l")),
               ("sacreBLEU", None, ("bleu",))]
COCO_COLUMNS = [("BLEU-4", "COCO BLEU-4", ("coco", "bleu4")), ("METEOR", "COCO METEOR", ("coco", "meteor")),
                ("ROUGE-L", "COCO ROUGE-L", ("coco", "rouge_l")), ("CIDEr", "COCO CIDEr", ("coco", "cider")),
                ("sacreBLEU", None, ("bleu",))]
# A paraphrase benchmark's columns print to 2 decimals as the paper's QQP, a captioning one's to 1.
DIGITS = {"paraphrase": 2, "captioning": 1}


def _value(scores: dict | None, field: tuple[str, ...]):
    for key in field:
        if scores is None:
            return None
        scores = scores.get(key)
    return scores


def _groups(config: dict):
    """(study, benchmark, columns) of every Table 5 block: the paraphrase benchmarks, then the
    captioning ones (those the run left out too)."""
    return [("paraphrase", b, QQP_COLUMNS) for b in config["paraphrase"]["benchmarks"]] + \
           [("captioning", b, COCO_COLUMNS) for b in config["captioning"]["benchmarks"]]


def table5_cells(paper_table: dict, results: dict, config: dict) -> list[Cell]:
    """Per row and benchmark column: the paper's value and ours (results: (benchmark, experiment,
    variant) -> scores of both studies; a benchmark left out has empty cells)."""
    cells = []
    for row in paper_table["rows"]:
        for study, benchmark, columns in _groups(config):
            scores = results.get((benchmark, row["experiment"], MAIN_VARIANT))
            for name, paper_column, field in columns:
                cells.append(Cell("5", row["row"], f"{benchmark} {name}",
                                  fmt(row["paper"].get(paper_column), DIGITS[study]),
                                  fmt(_value(scores, field), DIGITS[study]), config["scale"]))
    return cells


def _tabular(paper_table: dict, results: dict, study: str, benchmark: str, columns: list, note: str | None) -> list[str]:
    """One benchmark's block: Model | per metric paper, ours | sacreBLEU (ours); then, for a text
    source, the copy-the-source floor; then why ours are empty, when the run left it out."""
    digits = DIGITS[study]
    metrics = [c for c in columns if c[1] is not None]
    paper_name = "QQP" if study == "paraphrase" else "MS-COCO 2014"
    not_run = r"\textit{not run}"
    # shrunk to the text width only when wider (the captioning block's eleven columns)
    lines = [r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
             r"\begin{tabular}{l" + "rr" * len(metrics) + "r}", r"\toprule",
             f"{latex_escape(benchmark)} (paper: {paper_name}) & "
             + " & ".join(r"\multicolumn{2}{c}{" + name + "}" for name, _, _ in metrics) + r" & sacreBLEU \\",
             " ".join(rf"\cmidrule(lr){{{2 + 2 * i}-{3 + 2 * i}}}" for i in range(len(metrics))),
             " & ".join(["Model"] + ["paper & ours"] * len(metrics) + ["ours"]) + r" \\", r"\midrule"]
    for row in paper_table["rows"]:
        scores = results.get((benchmark, row["experiment"], MAIN_VARIANT))
        values = []
        for _, paper_column, field in metrics:
            values += [fmt(row["paper"].get(paper_column), digits), fmt(_value(scores, field), digits) if scores else not_run]
        values.append(fmt(_value(scores, ("bleu",)), 2) if scores else not_run)
        lines.append(f"{latex_escape(row['row'])} & " + " & ".join(values) + r" \\")
    if study == "paraphrase":
        any_scores = next((s for (b, _, _), s in results.items() if b == benchmark), None)
        copy = any_scores.get("copy_source") if any_scores else None
        copies = [v for _, _, field in metrics for v in ("--", fmt(_value(copy, field), digits) or "--")]
        lines += [r"\midrule", "Copy the source & " + " & ".join(copies + [fmt(_value(copy, ("bleu",)), 2) or "--"])
                  + r" \\"]
    lines += [r"\bottomrule", r"\end{tabular}}"]
    if note:
        lines.append(r"\\[2pt]\parbox{0.95\textwidth}{\raggedright\footnotesize " + latex_escape(note) + "}")
    return lines


def table5_tex(paper_table: dict, results: dict, config: dict, caption: str, left_out: dict[str, str] | None = None) -> str:
    """One block per benchmark, paraphrasing first, each with the paper's values beside ours."""
    left_out = left_out or {}
    lines = [r"\begin{table}[ht]", r"\centering", r"\small"]
    for i, (study, benchmark, columns) in enumerate(_groups(config)):
        note = f"{benchmark}, ours: not run: {left_out[benchmark]}." if benchmark in left_out else None
        lines += ([r"\\[6pt]"] if i else []) + _tabular(paper_table, results, study, benchmark, columns, note)
    lines += [r"\caption{" + caption + "}", r"\label{tab:table5}", r"\end{table}"]
    return "\n".join(lines) + "\n"


