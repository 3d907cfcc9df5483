"""Table 5: paraphrasing (QQP) and image captioning (MS-COCO), the paper's rows beside ours.

Our QQP numbers are the COCO caption tools' BLEU-4 and ROUGE-L (pycocoevalcap, the paper's appendix
H) of each model's test output, read from its `<testset>.main.scores.json` (`coco`), with sacreBLEU
beside them for reference. The captioning columns have no run behind them here: they say why.
"""

from __future__ import annotations

from .tables import Cell, fmt, latex_escape
from .translation import MAIN_VARIANT

# (our column, the paper's column, the scores.json field holding ours)
QQP_COLUMNS = [("BLEU-4", "QQP BLEU-4", ("coco", "bleu4")), ("ROUGE-L", "QQP ROUGE-L", ("coco", "rouge_l")),
               ("sacreBLEU", None, ("bleu",))]
COCO_COLUMNS = ["COCO BLEU-4", "COCO METEOR", "COCO ROUGE-L", "COCO CIDEr"]
# Why the captioning columns are empty (one line, in the table and the tidy CSV).
CAPTIONING_NOT_RUN = "not run: the captioning path (image features to captions) is not built yet"


def _value(scores: dict | None, field: tuple[str, ...]):
    for key in field:
        if scores is None:
            return None
        scores = scores.get(key)
    return scores


def table5_cells(paper_table: dict, results: dict, config: dict) -> list[Cell]:
    """Per row: ours and the paper's on every paraphrase benchmark's columns, then the COCO columns (the
    paper's values, ours empty)."""
    cells = []
    for row in paper_table["rows"]:
        paper = row["paper"]
        for benchmark in config["paraphrase"]["benchmarks"]:
            scores = results.get((benchmark, row["experiment"], MAIN_VARIANT))
            for name, paper_column, field in QQP_COLUMNS:
                cells.append(Cell("5", row["row"], f"{benchmark} {name}", fmt(paper.get(paper_column), 2),
                                  fmt(_value(scores, field), 2), config["scale"]))
        for column in COCO_COLUMNS:
            cells.append(Cell("5", row["row"], column, fmt(paper[column], 1), "", config["scale"]))
    return cells


def table5_tex(paper_table: dict, results: dict, config: dict, caption: str) -> str:
    """Model | per paraphrase benchmark: BLEU-4 and ROUGE-L (paper, ours), sacreBLEU | COCO: the paper's four."""
    benchmarks = config["paraphrase"]["benchmarks"]
    spec = "l" + "rrrrr" * len(benchmarks) + "rrrr"
    groups = " & ".join(f"\\multicolumn{{5}}{{c}}{{{latex_escape(b)} (paper: QQP)}}" for b in benchmarks)
    rules = " ".join(f"\\cmidrule(lr){{{2 + 5 * i}-{6 + 5 * i}}}" for i in range(len(benchmarks)))
    first_coco = 2 + 5 * len(benchmarks)
    lines = [r"\begin{table}[ht]", r"\centering", r"\small", r"\setlength{\tabcolsep}{4pt}",
             r"\resizebox{\textwidth}{!}{%", f"\\begin{{tabular}}{{{spec}}}", r"\toprule",
             "Model & " + (groups + " & " if groups else "") + r"\multicolumn{4}{c}{MS-COCO 2014 (paper)} \\",
             rules + f" \\cmidrule(lr){{{first_coco}-{first_coco + 3}}}",
             " & ".join([""] + [r"\multicolumn{2}{c}{BLEU-4} & \multicolumn{2}{c}{ROUGE-L} & sacreBLEU"] * len(benchmarks)
                        + ["BLEU-4", "METEOR", "ROUGE-L", "CIDEr"]) + r" \\",
             " & ".join([""] + ["paper & ours & paper & ours & ours"] * len(benchmarks) + [""] * 4) + r" \\",
             r"\midrule"]
    for row in paper_table["rows"]:
        values = []
        for benchmark in benchmarks:
            scores = results.get((benchmark, row["experiment"], MAIN_VARIANT))
            ours = [fmt(_value(scores, field), 2) for _, _, field in QQP_COLUMNS]
            if scores is None:
                ours = [r"\textit{not run}"] * 3
            papers = [fmt(row["paper"].get(column), 2) for _, column, _ in QQP_COLUMNS]
            values += [papers[0], ours[0], papers[1], ours[1], ours[2]]  # sacreBLEU: the paper prints none
        values += [fmt(row["paper"][column], 1) for column in COCO_COLUMNS]
        lines.append(f"{latex_escape(row['row'])} & " + " & ".join(values) + r" \\")
    copies = []
    for benchmark in benchmarks:
        any_scores = next((s for (b, _, _), s in results.items() if b == benchmark), None)
        copy = any_scores["copy_source"] if any_scores else None
        copies += ["--", fmt(_value(copy, ("coco", "bleu4")), 2) or "--", "--",
                   fmt(_value(copy, ("coco", "rouge_l")), 2) or "--", fmt(_value(copy, ("bleu",)), 2) or "--"]
    lines += [r"\midrule", "Copy the source & " + " & ".join(copies + ["--"] * 4) + r" \\",
              r"\bottomrule", r"\end{tabular}}",
              f"\\caption{{{caption} MS-COCO, ours: {latex_escape(CAPTIONING_NOT_RUN)}.}}",
              r"\label{tab:table5}", r"\end{table}"]
    return "\n".join(lines) + "\n"
