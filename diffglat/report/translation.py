"""Translation tables: the paper's rows beside ours, read from `<testset>.<variant>.scores.json` files.

A paper table is a list of rows in paper_numbers.yaml, each naming the experiment (and decoding
variant) of ours that reproduces it; `columns` maps each of our benchmarks to the paper column it
stands in for. A row whose result file is missing shows "not run".
"""

from __future__ import annotations

from pathlib import Path

from ..config import STUDIES
from ..io import read_json
from .tables import Cell, fmt, latex_escape

MAIN_VARIANT = "main"


def scores_path(config: dict, benchmark: str, experiment: str, variant: str) -> Path:
    test_set = next(iter(config["benchmarks"][benchmark]["test"]))  # the paper's test set comes first
    return Path(config["paths"]["results"]) / benchmark / experiment / f"{test_set}.{variant}.scores.json"


def collect_study(config: dict, study: str) -> dict[tuple[str, str, str], dict]:
    """(benchmark, experiment, variant) -> scores, for every result file of a study (`translation`,
    `paraphrase`) the config implies that exists."""
    found = {}
    section = config[study]
    for benchmark in section["benchmarks"]:
        for experiment, spec in section["experiments"].items():
            for variant in [MAIN_VARIANT, *spec.get("decode_variants", {})]:
                path = scores_path(config, benchmark, experiment, variant)
                if path.is_file():
                    found[(benchmark, experiment, variant)] = read_json(path)
    return found


def table_rows(paper_table: dict) -> list[dict]:
    return paper_table["rows"] + paper_table.get("extra_rows", [])


def bleu_cells(number: str, paper_table: dict, columns: dict, results: dict, config: dict) -> list[Cell]:
    """One cell per (row, our benchmark): the paper's BLEU in the column it stands in for, ours."""
    cells = []
    for row in table_rows(paper_table):
        for benchmark in config["translation"]["benchmarks"]:
            column = columns.get(benchmark)
            paper = row.get("paper", {}).get(column)
            scores = results.get((benchmark, row["experiment"], row.get("variant", MAIN_VARIANT)))
            cells.append(Cell(number, row["row"], f"{benchmark} (paper: {column or 'no column'})",
                              fmt(paper, 2), fmt(scores["bleu"] if scores else None, 2), config["scale"]))
    return cells


def signature(results: dict) -> str:
    signatures = sorted({s["bleu_signature"] for s in results.values()})
    return "; ".join(signatures) if signatures else "no results"


def bleu_table_tex(number: str, paper_table: dict, columns: dict, results: dict, config: dict, caption: str) -> str:
    """Model | Iter. | per benchmark: Paper, Ours BLEU, Ours chrF | training cost; then the copy-source floor."""
    benchmarks = config["translation"]["benchmarks"]
    spec = "ll" + "rrr" * len(benchmarks) + "r"
    header = " & ".join(f"\\multicolumn{{3}}{{c}}{{{latex_escape(b)} (paper: {latex_escape(columns.get(b, '--'))})}}"
                        for b in benchmarks)
    rules = " ".join(f"\\cmidrule(lr){{{3 + 3 * i}-{5 + 3 * i}}}" for i in range(len(benchmarks)))
    lines = [r"\begin{table}[ht]", r"\centering", r"\small", f"\\begin{{tabular}}{{{spec}}}", r"\toprule",
             f"Model & Iter. & {header} & Training \\\\", rules,
             " & ".join(["", ""] + ["Paper & BLEU & chrF"] * len(benchmarks) + ["steps / min"]) + r" \\", r"\midrule"]
    extra = paper_table.get("extra_rows", [])
    for row in table_rows(paper_table):
        if extra and row is extra[0]:
            lines.append(r"\midrule")
        values, cost = [], "--"
        for benchmark in benchmarks:
            scores = results.get((benchmark, row["experiment"], row.get("variant", MAIN_VARIANT)))
            paper = row.get("paper", {}).get(columns.get(benchmark))
            if scores is None:
                values += [fmt(paper, 2) or "--", r"\multicolumn{2}{c}{\textit{not run}}"]
                continue
            values += [fmt(paper, 2) or "--", fmt(scores["bleu"], 2), fmt(scores["chrf"], 1)]
            t = scores["training"]
            cost = f"{t['steps']:,} / {t['wall_seconds'] / 60:.0f}"
        lines.append(f"{latex_escape(row['row'])} & {row.get('iterations', '')} & " + " & ".join(values) + f" & {cost} \\\\")
    copies = []
    for benchmark in benchmarks:
        any_scores = next((s for (b, _, _), s in results.items() if b == benchmark), None)
        copies += ["--", fmt(any_scores["copy_source"]["bleu"], 2) if any_scores else "--",
                   fmt(any_scores["copy_source"]["chrf"], 1) if any_scores else "--"]
    lines += [r"\midrule", "Copy the source & -- & " + " & ".join(copies) + r" & -- \\"]
    lines += [r"\bottomrule", r"\end{tabular}",
              f"\\caption{{{caption} sacreBLEU signature: \\texttt{{{latex_escape(signature(results))}}}.}}",
              f"\\label{{tab:table{number}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def claims_tex(claims: list[dict], results: dict, config: dict) -> str:
    """The paper's claims on our numbers: for each benchmark, holds / does not hold / not run."""
    benchmarks = config["translation"]["benchmarks"]
    lines = [r"\begin{table}[ht]", r"\centering", r"\small", r"\begin{tabular}{l" + "l" * len(benchmarks) + "}",
             r"\toprule", "Claim of the paper & " + " & ".join(latex_escape(b) for b in benchmarks) + r" \\", r"\midrule"]
    for claim in claims:
        verdicts = []
        for benchmark in benchmarks:
            better = results.get((benchmark, claim["better"], MAIN_VARIANT))
            worse = results.get((benchmark, claim["worse"], MAIN_VARIANT))
            if better is None or worse is None:
                verdicts.append(r"\textit{not run}")
                continue
            holds = better["bleu"] >= worse["bleu"]
            verdicts.append(f"{'holds' if holds else 'does not hold'} ({better['bleu']:.2f} vs {worse['bleu']:.2f})")
        lines.append(f"{latex_escape(claim['claim'])} & " + " & ".join(verdicts) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\addtocounter{table}{-1}\renewcommand{\thetable}{S2}",
              r"\caption{The paper's claims checked on this run's test BLEU (ours, main decoding).}",
              r"\label{tab:claims}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def before_after_tex(previous: dict | None, results: dict) -> str:
    """The rows a change of the training recipe affected: the previous run's test BLEU and training
    pairs (report/previous_run.yaml, per scale) beside this run's. Empty where that file has none."""
    if not previous:
        return ""
    lines = [r"\begin{table}[ht]", r"\centering", r"\small", r"\begin{tabular}{llrrrrr}", r"\toprule",
             r"Experiment & Decoding & \multicolumn{2}{c}{Training pairs} & \multicolumn{3}{c}{Test BLEU} \\",
             r"\cmidrule(lr){3-4} \cmidrule(lr){5-7}",
             r" & & before & now & before & now & change \\", r"\midrule"]
    for row in previous["rows"]:
        scores = results.get((previous["benchmark"], row["experiment"], row["variant"]))
        now_pairs = f"{scores['training']['train_pairs']:,}" if scores else "--"
        before_pairs = f"{row['train_pairs']:,}" if "train_pairs" in row else now_pairs
        now = fmt(scores["bleu"], 2) if scores else r"\textit{not run}"
        change = f"{scores['bleu'] - row['bleu']:+.2f}" if scores else "--"
        lines.append(f"{latex_escape(row['experiment'])} & {latex_escape(row['variant'])} & {before_pairs} & "
                     f"{now_pairs} & {row['bleu']:.2f} & {now} & {change} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\addtocounter{table}{-1}\renewcommand{\thetable}{S3}",
              (f"\\caption{{{latex_escape(previous['caption'])}: {latex_escape(previous['source'])} against this "
               f"run, {latex_escape(previous['benchmark'])}.}}"),
              r"\label{tab:before-after}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def late_gain(validations: list[dict], window: int) -> float | None:
    """Best validation BLEU of the last `window` validations minus the best before them (how much
    the curve still climbed at its end); None with too few validations."""
    scores = [v["score"] for v in validations]
    if len(scores) <= window:
        return None
    return max(scores[-window:]) - max(scores[:-window])


def stop_reason(training: dict) -> str:
    """Why a run's training ended: 'plateau', 'max_steps' (a plateau rule that never fired) or 'fixed'."""
    if training.get("plateau_step") is not None:
        return "plateau"
    return "max_steps" if training.get("plateau") else "fixed"


def convergence_tex(results: dict, config: dict) -> str:
    """Per trained model (translation and paraphrasing): steps, epochs, wall time, why training
    stopped, best validation BLEU and the gain of its last validations (Table S4)."""
    plateau = config["translation"]["validate"]["plateau"]
    window = plateau["patience"] if plateau else 3  # the header's; each row uses its own run's rule
    lines = [r"\begin{table}[ht]", r"\centering", r"\small", r"\begin{tabular}{llrrrlrr}", r"\toprule",
             (r"Benchmark & Experiment & Steps & Epochs & Min & Stopped & Best valid BLEU (step) & "
              f"Gain, last {window} \\\\"), r"\midrule"]
    for (benchmark, experiment, variant), s in sorted(results.items()):
        if variant != MAIN_VARIANT:
            continue
        t = s["training"]
        stop = {"plateau": "plateau", "max_steps": "max. steps", "fixed": "fixed"}[stop_reason(t)]
        best = max(t["validations"], key=lambda v: (v["score"], v["step"]), default=None)
        gain = late_gain(t["validations"], t["plateau"]["patience"] if t.get("plateau") else window)
        own_minutes = (t["wall_seconds"] - t.get("branched_seconds", 0.0)) / 60
        epochs = f"{t['epochs']:.1f}" if "epochs" in t else "--"
        lines.append(f"{latex_escape(benchmark)} & {latex_escape(experiment)} & {t['steps']:,} & {epochs} & "
                     f"{own_minutes:.1f} & {stop} & "
                     + (f"{best['score']:.2f} ({best['step']:,})" if best else "--") + " & "
                     + (f"{gain:+.2f}" if gain is not None else "--") + r" \\")
    def rule(plateau):
        return (f"stops a run once its last {plateau['patience']} validations gain less than {plateau['min_gain']} "
                "BLEU over the best before them" if plateau else "is off: every run trains its max. steps")
    rules = "; ".join(f"{study}.validate.plateau {rule(config[study]['validate']['plateau'])}"
                      for study in STUDIES if config[study]["benchmarks"])
    lines += [r"\bottomrule", r"\end{tabular}", r"\addtocounter{table}{-1}\renewcommand{\thetable}{S4}",
              (f"\\caption{{How far each model trained. Min: its own wall time (a branch without its parent's "
               f"shared warm-up). Steps and epochs of a branch include its parent's. The plateau rule: "
               f"{latex_escape(rules)}; the last column is that gain at the run's end (near zero or negative: "
               f"flat).}}"),
              r"\label{tab:convergence}", r"\end{table}"]
    return "\n".join(lines) + "\n"
