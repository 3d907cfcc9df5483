"""Builds the report: reads the result files, writes the files that outputs.py names, fills the
`$name` slots of template.tex (string.Template: LaTeX's braces get in the way of str.format) and
compiles it. Each of the paper's tables and figures keeps the paper's number: LaTeX's counter is
set from that number just before it.
"""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path
from string import Template

from ..config import STUDIES, section_hash
from ..io import atomic_write_json, atomic_write_text, read_json
from . import outputs
from .data_stats import data_stats_appendix
from .figures import bleu_figure, diffusion_figure, figure2, learning_curves
from .paraphrase import table5_cells, table5_tex
from .plan import plan_paths, plan_tex
from .summary import run_figures
from .tables import (
    Cell,
    latex_escape,
    memorisation_probe_tex,
    paper_vs_ours_tex,
    table1_cells,
    table2_cells,
    table2_tex,
    write_tidy_csv,
)
from .translation import (
    before_after_tex,
    bleu_cells,
    bleu_table_tex,
    claims_tex,
    collect_study,
    convergence_tex,
    stop_reason,
)

LATEX_PACKAGES = "latexmk texlive-latex-base texlive-latex-recommended texlive-fonts-recommended"
# A reproduced value this far (in points) from the paper's is listed in the notes.
MATERIAL_GAP = 5.0
FIGURE2_CAPTION = ("Regenerated: the modality of the closest valid target for each test output. The paper plots the\n"
                   "PML model's middle and last layers; the references, AR and vanilla NAR are added for comparison.")


def collect_results(config: dict) -> tuple[dict | None, dict[str, dict]]:
    stats = read_json(Path(config["paths"]["data"]) / "synthetic" / "stats.json", missing_ok=True)
    scores = {}
    for experiment in config["synthetic"]["experiments"]:
        found = read_json(Path(config["paths"]["results"]) / "synthetic" / experiment / "test.scores.json", missing_ok=True)
        if found is not None:
            scores[experiment] = found
    return stats, scores


def material_gaps(cells: list[Cell]) -> list[str]:
    gaps = []
    for c in cells:
        try:
            paper, ours = float(c.paper), float(c.reproduced)
        except ValueError:
            continue
        if abs(paper - ours) >= MATERIAL_GAP:
            gaps.append(f"Table {c.table}, {c.row} / {c.column}: paper {c.paper}, reproduced {c.reproduced} "
                        f"({ours - paper:+.1f}).")
    return gaps


def run_summary(config: dict, summary: dict, scores: dict[str, dict],
                trained: dict[tuple, dict]) -> list[tuple[str, str]]:
    """What was run, for the report's first table: every value read from the result files (through
    `summary`, summary.json's content, for what both say)."""
    runs = {(b, e): s for (b, e, _), s in trained.items()}  # one training per (benchmark, experiment)
    figures = summary["figures"]
    rows = [("config", (f"{config['name']} (scale: {config['scale']}, synthetic section hash "
                        f"{section_hash(config['synthetic'])})")),
            ("git commit(s) of the results", ", ".join(summary["git_commits"]) or "no results"),
            ("hardware", "; ".join(summary["hardware"]) or "no results"),
            ("wall time", (f"{figures['training_minutes'] + figures['decoding_minutes']:.1f} min summed over jobs "
                           f"(training {figures['training_minutes']:.1f} min, decoding "
                           f"{figures['decoding_minutes']:.1f} min)")),
            ("libraries", ", ".join(f"{k} {v}" for k, v in summary["libraries"].items()))]
    for name, s in scores.items():
        t = s["training"]
        rows.append((f"experiment {name}", (f"{s['model']}, {t['parameters']:,} parameters, {t['steps']} steps "
                                            f"on {t['device']} in {t['wall_seconds'] / 60:.1f} min, final training "
                                            f"loss {t['last_stats'].get('loss', float('nan')):.3f}")))
    for (benchmark, experiment), s in runs.items():
        t = s["training"]
        epochs = f", {t['epochs']:.1f} epochs" if "epochs" in t else ""
        stop = {"plateau": "stopped at the validation plateau", "max_steps": "no plateau before max_steps",
                "fixed": "fixed steps"}[stop_reason(t)]
        rows.append((f"{benchmark}/{experiment}",
                     (f"{s['model']}, {t['parameters']:,} parameters, {t['steps']} steps{epochs} ({stop}) on "
                      f"{t['device']} in {t['wall_seconds'] / 60:.1f} min, {t['train_pairs']:,} training pairs, "
                      f"averaged steps {', '.join(map(str, t['averaged_steps']))}")))
    return rows


def scale_statement(config: dict) -> str:
    d, m, t = config["synthetic"]["data"], config["synthetic"]["model"], config["synthetic"]["train"]
    return (f"Synthetic data: sources of {d['seq_len']} numbers from 1..{d['max_number']} (paper: 32 numbers "
            f"from 1..5000), {d['train']:,}/{d['valid']:,}/{d['test']:,} train/valid/test pairs (paper: "
            f"100,000/5,000/5,000). Models: {m['encoder_layers']} encoder and {m['decoder_layers']} decoder "
            f"layers (paper: 4 and 4), width {m['d_model']}, {m['heads']} heads, FFN {m['ffn_dim']}, trained "
            f"{t['max_steps']:,} steps of about {t['max_tokens']:,} target tokens (the paper gives neither "
            f"width nor training length).")


def translation_statement(config: dict) -> str:
    study = config["translation"]
    sizes = "; ".join(f"{name}: {s['encoder_layers']}+{s['decoder_layers']} layers x {s['d_model']}, "
                      f"{s['heads']} heads, FFN {s['ffn_dim']}" for name, s in study["sizes"].items())
    t, v = study["train"], study["validate"]
    return (f"Translation: benchmarks {', '.join(study['benchmarks'])}; model sizes {sizes}; "
            f"{t['max_steps']:,} steps of about {t['max_tokens'] * t['update_freq']:,} target tokens "
            f"(experiments may override), validated every {v['every']} steps by BLEU on {v['sentences']} "
            f"validation pairs, the best {v['keep_best']} checkpoints averaged (paper: WMT, Transformer base, "
            f"300k steps of 64k tokens, best 5 averaged).")


def paraphrase_statement(config: dict, left_out: dict[str, str]) -> str:
    return f"{study_statement(config, 'paraphrase')} {study_statement(config, 'captioning', left_out)}"


def study_statement(config: dict, name: str, left_out: dict[str, str] | None = None) -> str:
    study, title = config[name], {"paraphrase": "Paraphrasing", "captioning": "Captioning"}[name]
    paper = {"paraphrase": "4+4 layers x 256, dropout 0.3, 100k steps, on the 145k pairs of the QQP train split",
             "captioning": "Transformer base on bottom-up region features, 100k steps, on the Karpathy split"}[name]
    left_out = left_out or {}
    listed = study["benchmarks"] + [b for b in left_out if b not in study["benchmarks"]]
    if not listed:
        return f"{title}: no benchmark selected (config {name}.benchmarks is empty)."
    not_run = "".join(f" {b} not run: {why}." for b, why in left_out.items())
    sizes = "; ".join(f"{name}: {s['encoder_layers']}+{s['decoder_layers']} layers x {s['d_model']}, "
                      f"{s['heads']} heads, FFN {s['ffn_dim']}, dropout {s['dropout']}" for name, s in study["sizes"].items())
    t, v = study["train"], study["validate"]
    return (f"{title}: benchmarks {', '.join(listed)}; model sizes {sizes}; "
            f"{t['max_steps']:,} steps of about {t['max_tokens'] * t['update_freq']:,} target tokens "
            f"(experiments may override), validated every {v['every']} steps by BLEU on {v['sentences']} "
            f"validation items, the best {v['keep_best']} checkpoints averaged (paper: {paper}).{not_run}")


def numbered(counter: str, number: str, body: str) -> str:
    """A table or figure environment numbered as in the paper: LaTeX's counter set to number - 1 before it."""
    return f"\\setcounter{{{counter}}}{{{int(number) - 1}}}\n{body}"


def figure_tex(name: str, width: str, caption: str) -> str:
    """The paper's figure<N> (figures/<name>.pdf), numbered N."""
    return numbered("figure", name.removeprefix("figure"), rf"""\begin{{figure}}[H]
\centering
\includegraphics[width={width}\textwidth]{{../figures/{name}.pdf}}
\caption{{{caption}}}
\end{{figure}}""")


def figures_tex(figures: dict) -> str:
    """The translation figures, each numbered as in the paper, with the paper's values or stated trend."""
    return "\n\n".join(figure_tex(name, "0.8", f"Regenerated: {latex_escape(spec['title'])}. "
                                             f"Paper: {latex_escape(spec['source'])}.")
                       for name, spec in figures.items())


def curves_tex(benchmarks: list[str]) -> str:
    """Supplementary figures: validation BLEU during training, per benchmark."""
    return "".join(rf"""

\begin{{figure}}[H]
\centering
\includegraphics[width=0.85\textwidth]{{../figures/curves_{b}.pdf}}
\renewcommand{{\thefigure}}{{S{i + 1}}}\addtocounter{{figure}}{{-1}}
\caption{{Validation BLEU (greedy, first validation pairs) during training on {latex_escape(b)}: every model of
this run. Comparisons between models that are still climbing say which learns faster in this budget.}}
\end{{figure}}""" for i, b in enumerate(benchmarks))


def diffusion_tex(benchmarks: list[str], first: int) -> str:
    """Supplementary figures: the per-transition share of DiffGLAT's intermediate targets that differs from y0."""
    return "".join(rf"""

\begin{{figure}}[H]
\centering
\includegraphics[width=0.95\textwidth]{{../figures/diffusion_{b}.pdf}}
\renewcommand{{\thefigure}}{{S{first + i}}}\addtocounter{{figure}}{{-1}}
\caption{{The modality diffusion process at work on {latex_escape(b)}: per DiffGLAT run and transition
(decoding order), the share of intermediate-target tokens that differ from the data target y0, averaged per
log window of the steps that trained a transition at or after it. Nothing is logged during the warm-up (every
transition learns y0) nor for the last transition (always y0); shares near 0 would mean plain deep
supervision on y0, a diffusion process shows as early transitions with larger shares than later ones.}}
\end{{figure}}""" for i, b in enumerate(benchmarks))


def document(config: dict, summary, tables_tex: dict[str, str], probe_tex: str, notes: list[str], missing: list[str],
             data_tex: str, cost_tex: str, translation_figures_tex: str, claims: str, left_out: dict[str, str]) -> str:
    """template.tex with every slot filled; the paper's tables (`$table<N>`) and figure 2 numbered as in the paper."""
    template = Template(resources.files(__package__).joinpath("template.tex").read_text(encoding="utf-8"))
    slots = {"name": latex_escape(config["name"]), "scale": latex_escape(config["scale"]),
             "summary": "\n".join(f"{latex_escape(k)} & {latex_escape(v)} \\\\" for k, v in summary),
             "scale_statement": latex_escape(scale_statement(config)),
             "translation_statement": latex_escape(translation_statement(config)),
             "paraphrase_statement": latex_escape(paraphrase_statement(config, left_out)),
             "missing": (r"\textbf{Not run at this scale:} " + latex_escape(", ".join(missing)) + ".") if missing else "",
             **{f"table{number}": numbered("table", number, tex) for number, tex in tables_tex.items()},
             "figure2": figure_tex(outputs.SYNTHETIC_FIGURE, "0.85", FIGURE2_CAPTION),
             "probe": probe_tex, "translation_figures": translation_figures_tex, "claims": claims, "cost": cost_tex,
             "notes": "\n".join(f"\\item {latex_escape(n)}" for n in notes) or r"\item None.",
             "data": data_tex}
    if set(template.get_identifiers()) != set(slots):  # a table without a slot would silently vanish
        raise ValueError(f"template.tex slots {sorted(template.get_identifiers())} != filled {sorted(slots)}")
    return template.substitute(slots)


def compile_pdf(tex_path: Path, pdf_path: Path) -> None:
    if shutil.which("latexmk") is None or shutil.which("pdflatex") is None:
        raise FileNotFoundError(f"LaTeX is missing: install the Debian packages {LATEX_PACKAGES} "
                                f"(`make setup` does), or run `diffglat report --no-pdf`")
    build = tex_path.parent
    result = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", tex_path.name],
                            cwd=build, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ValueError(f"latexmk failed on {tex_path}; see {build / tex_path.stem}.log\n{result.stdout[-2000:]}")
    tmp = pdf_path.with_name(f".{pdf_path.name}.tmp")
    shutil.copyfile(build / f"{tex_path.stem}.pdf", tmp)
    tmp.replace(pdf_path)


def build_report(config: dict, pdf: bool = True, left_out: dict[str, str] | None = None) -> Path:
    """left_out: the captioning benchmarks the run could not train (their data is missing) -> why;
    Table 5 says so, and nothing else looks for their results."""
    left_out = left_out or {}
    paper = outputs.packaged_yaml("paper_numbers.yaml")
    table5_config = config
    config = {**config, "captioning": {**config["captioning"],
                                       "benchmarks": [b for b in config["captioning"]["benchmarks"] if b not in left_out]}}
    stats, scores = collect_results(config)
    scale = config["scale"]

    translation = collect_study(config, "translation")
    table5_results = {**collect_study(config, "paraphrase"), **collect_study(config, "captioning")}
    trained = {**translation, **table5_results}  # what every run trained: the run summary, Table S4, curves
    cells = {"1": table1_cells(paper["table1"], stats, scale), "2": table2_cells(paper["table2"], stats, scores, scale),
             **{n: bleu_cells(n, paper[f"table{n}"], paper["columns"], translation, config)
                for n in outputs.TRANSLATION_TABLES},
             outputs.PARAPHRASE_TABLE: table5_cells(paper["table5"], table5_results, table5_config)}
    captions = {"1": "Regenerated: the generator's targets for the paper's example source (N = 5000) "
                     "and the share of each modality in our data.",
                "2": "Regenerated: token and sequence accuracy (\\%) of the synthetic study.",
                "3": "Regenerated: test BLEU and chrF of every model family.",
                "6": "Regenerated: diffusion processes on top of DAT (3 decoding iterations).",
                "8": "Regenerated: DiffGLAT based on CTC.",
                "5": "Regenerated: paraphrasing and image captioning, pycocoevalcap scores of the test output "
                     "(captioning: against every caption of an image; SPICE left out: its first use downloads "
                     "Stanford CoreNLP)."}
    tables_tex = {"1": paper_vs_ours_tex(cells["1"], captions["1"], "tab:table1"),
                  "2": table2_tex(cells["2"], captions["2"]),
                  **{n: bleu_table_tex(n, paper[f"table{n}"], paper["columns"], translation, config, captions[n])
                     for n in outputs.TRANSLATION_TABLES},
                  outputs.PARAPHRASE_TABLE: table5_tex(paper["table5"], table5_results, table5_config, captions["5"],
                                                       left_out)}
    probe_tex = memorisation_probe_tex(scores)
    for number in outputs.TABLES:
        write_tidy_csv(cells[number], outputs.table_path(config, number, "csv"))
        atomic_write_text(outputs.table_path(config, number, "tex"), tables_tex[number])
    missing = figure2(stats, scores, outputs.figure_stem(config, outputs.SYNTHETIC_FIGURE))
    benchmarks = config["translation"]["benchmarks"]
    for name, spec in paper["figures"].items():
        missing += bleu_figure(spec, translation, benchmarks, paper["columns"], outputs.figure_stem(config, name))
    studied = benchmarks + config["paraphrase"]["benchmarks"] + config["captioning"]["benchmarks"]
    curves = [b for b in studied if learning_curves(trained, b, outputs.figure_stem(config, f"curves_{b}"))]
    diffusion = [b for b in studied if diffusion_figure(trained, b, outputs.figure_stem(config, f"diffusion_{b}"))]
    missing += [f"synthetic experiment {e}" for e in config["synthetic"]["experiments"] if e not in scores]
    for study in STUDIES:
        results = translation if study == "translation" else table5_results
        missing += [f"{study} experiment {e}" for e in config[study]["experiments"]
                    if config[study]["benchmarks"] and not any(key[1] == e and key[0] in config[study]["benchmarks"]
                                                               for key in results)]

    notes = list(outputs.packaged_yaml("notes.yaml").get(scale, []))
    notes += material_gaps(cells["2"]) or ["No reproduced value of Table 2 is 5 or more points from the paper's."]
    tex = outputs.tex_path(config)
    data_tex = data_stats_appendix(config, outputs.data_stats_path(config))
    plans = {title: plan for title, path in plan_paths(config).items() if (plan := read_json(path, missing_ok=True)) is not None}
    figures = run_figures(config, stats, scores, trained)
    atomic_write_json(outputs.summary_path(config), figures)
    summary = run_summary(config, figures, scores, trained)
    atomic_write_text(tex, document(config, summary, tables_tex, probe_tex, notes, missing, data_tex, plan_tex(plans),
                                    figures_tex(paper["figures"]) + curves_tex(curves)
                                    + diffusion_tex(diffusion, len(curves) + 1),
                                    claims_tex(paper["claims"], translation, config)
                                    + before_after_tex(outputs.packaged_yaml("previous_run.yaml").get(scale), translation)
                                    + (convergence_tex(trained, config) if trained else ""), left_out))
    pdf_path = outputs.pdf_path(config)
    if pdf:
        compile_pdf(tex, pdf_path)
        print(f"wrote {pdf_path}")
    return pdf_path
