"""The report's outputs: one list of files, the one the report writes and the Snakefile declares;
the tidy CSV format; the document's table and figure numbers taken from the numbers themselves."""

import subprocess
import sys
from pathlib import Path

from diffglat.config import load_config
from diffglat.report import build_report, report_outputs
from diffglat.report.build import document, figures_tex
from diffglat.report.outputs import TABLES, packaged_yaml
from diffglat.report.tables import Cell, write_tidy_csv


def smoke_config(repo, tmp_path):
    config = load_config([repo / "config" / "config.yaml", repo / "config" / "smoke.yaml"])
    config["paths"] = {**config["paths"], "data": str(tmp_path / "data"), "results": str(tmp_path / "results"),
                       "reports": str(tmp_path / "reports")}
    return config


def test_report_outputs_names_the_paper_tables_and_figures():
    outputs = report_outputs({"paths": {"reports": "reports/smoke"}})
    assert outputs["pdf"] == ["reports/smoke/diffglat-report.pdf"]
    assert outputs["tables"] == [f"reports/smoke/tables/table{n}.{ext}" for n in (1, 2, 3, 5, 6, 8) for ext in ("csv", "tex")]
    assert outputs["data_stats"] == ["reports/smoke/tables/data_stats.csv"]
    assert outputs["figures"] == [f"reports/smoke/figures/figure{n}.{ext}" for n in (2, 5, 6, 8, 9, 10)
                                  for ext in ("pdf", "png", "csv")]


def test_importing_the_report_package_stays_light(repo):
    """The Snakefile imports it at parse time: no matplotlib, pandas or torch until a report is built."""
    code = ("import sys, diffglat.report; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'pandas', 'torch'}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_report_writes_every_output_it_names(repo, tmp_path):
    config = smoke_config(repo, tmp_path)  # no results at all: every cell "not run"
    assert build_report(config, pdf=False) == Path(report_outputs(config)["pdf"][0])
    outputs = report_outputs(config)
    for path in outputs["tables"] + outputs["data_stats"] + outputs["figures"] + outputs["summary"]:
        assert Path(path).is_file(), path
    written = {p for p in (tmp_path / "reports").rglob("*") if p.is_file() and p.parts[-2] != "latex"}
    assert written == {Path(p) for kind in ("tables", "data_stats", "figures", "summary") for p in outputs[kind]}


def test_tidy_csv_quotes_only_where_needed(tmp_path):
    cells = [Cell("3", 'DAT, "lookahead"', "multi30k_en_de (paper: WMT14 En-De)", "26.47", "", "smoke"),
             Cell("1", "I", "train share (%)", "", "25.0", "smoke")]
    write_tidy_csv(cells, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_bytes() == (
        b'table,row,column,paper,reproduced,scale\n'
        b'3,"DAT, ""lookahead""",multi30k_en_de (paper: WMT14 En-De),26.47,,smoke\n'
        b'1,I,train share (%),,25.0,smoke\n')
    write_tidy_csv([], tmp_path / "empty.csv")
    assert (tmp_path / "empty.csv").read_text() == "table,row,column,paper,reproduced,scale\n"


def test_document_numbers_tables_and_figures_from_their_numbers(repo, tmp_path):
    config = smoke_config(repo, tmp_path)
    paper = packaged_yaml("paper_numbers.yaml")
    tables_tex = {n: f"TABLE {n}\n" for n in TABLES}
    tex = document(config, [("config", "smoke")], tables_tex, "PROBE\n", ["a note"], [], "DATA\n", "COST",
                   figures_tex(paper["figures"]), "CLAIMS", {})
    for n in TABLES:
        assert f"\\setcounter{{table}}{{{int(n) - 1}}}\nTABLE {n}\n" in tex
    for n in (2, 5, 6, 8, 9, 10):
        assert f"\\setcounter{{figure}}{{{n - 1}}}\n\\begin{{figure}}[H]\n\\centering\n" \
               f"\\includegraphics[width=0.8{'5' if n == 2 else ''}\\textwidth]{{../figures/figure{n}.pdf}}" in tex
    assert "$" not in tex.replace(r"$\geq$", "").replace(r"$\leq$", "")  # every slot filled
    assert tex.startswith("\\documentclass[11pt]{article}\n") and tex.endswith("\\end{document}\n")
