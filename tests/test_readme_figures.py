"""The figures the README quotes are those of the runs they came from (scripts/readme_figures.py),
and the run summary they are read from (diffglat/report/summary.py)."""

import importlib.util
import json
from pathlib import Path

import pytest

from diffglat.report.summary import job_span_seconds, run_figures

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "readme_figures.py"
spec = importlib.util.spec_from_file_location("readme_figures", SCRIPT)
readme_figures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_figures)


def test_the_documents_show_what_their_records_say(capsys):
    assert readme_figures.check() == 0, capsys.readouterr().out


@pytest.fixture
def records(tmp_path, monkeypatch):
    monkeypatch.setattr(readme_figures, "RECORDS", tmp_path)
    monkeypatch.setattr(readme_figures, "ROOT", tmp_path.parent)
    (tmp_path / "run.json").write_text(json.dumps({"figures": {"b.ar.main.bleu": 31.96, "b.ar.plateau_step": 1800,
                                                               "b.dat.plateau_step": None}}))
    return tmp_path


def test_a_stale_figure_is_rendered_from_its_record(records):
    text = ("AR: <!--run run b.ar.main.bleu-->30.0<!--/run--> BLEU at <!--run run b.ar.plateau_step-->1<!--/run--> "
            "steps; DAT's plateau: <!--run run b.dat.plateau_step-->900<!--/run-->.")
    assert readme_figures.rendered(text, "README.md") == (
        "AR: <!--run run b.ar.main.bleu-->32.0<!--/run--> BLEU at <!--run run b.ar.plateau_step-->1,800<!--/run--> "
        "steps; DAT's plateau: <!--run run b.dat.plateau_step-->none<!--/run-->.")


def test_a_figure_the_record_lacks_names_the_document_the_record_and_the_figure(records):
    with pytest.raises(SystemExit, match="README.md quotes 'b.ar.main.chrf' of the record 'run', which has no"):
        readme_figures.rendered("<!--run run b.ar.main.chrf-->1<!--/run-->", "README.md")
    with pytest.raises(SystemExit, match="config/README.md: the record 'gone' does not exist"):
        readme_figures.rendered("<!--run gone x.bleu-->1<!--/run-->", "config/README.md")


def test_the_latency_table_is_rendered_whole_from_its_record(records):
    rows = [{"experiment": e, "variant": v, "weights": "trained" if e != "ctc" else "fresh", "ms_batch1": 10.0 * (i + 1),
             "ms_batch64": 2.0, "speedup_batch1": 1 / (i + 1), "speedup_batch64": None if e == "ctc" else 1.0}
            for i, (e, v, _, _) in enumerate(readme_figures.LATENCY_ROWS)]
    (records / "decode_latency.json").write_text(json.dumps({
        "measured_on": "2026-12-03", "git_commits": ["abc"], "hardware": "2 CPU cores (X)", "threads": 1,
        "benchmark": "m30k", "test_set": "test", "sentences_batch1": 100, "sentences_batch64": 1000, "rows": rows}))
    text = readme_figures.rendered("before\n<!--table decode_latency-->\n| old |\n<!--/table-->\nafter", "README.md")
    lines = text.split("\n")
    assert lines[:2] == ["before", "<!--table decode_latency-->"] and lines[-2:] == ["<!--/table-->", "after"]
    assert lines[2] == ("Measured 2026-12-03 at commit abc on 2 CPU cores (X), 1 torch thread(s): m30k test, batch 1 "
                        "over its first 100 sentences, batch 64 over all 1000; milliseconds per sentence and speedup "
                        "over the AR with beam search; fresh (untrained) weights for ctc.")
    assert lines[6] == "| AR 3+6 (beam 4) | 10.0 | 1.0x | 2.00 | 1.0x | 1.0x |"
    assert lines[7] == "| AR 3+6 (greedy) | 20.0 | 0.5x | 2.00 | 1.0x |  |"
    assert lines[9] == "| CTC | 40.0 | 0.2x | 2.00 | -- | 14.3x |"
    assert len(lines) == 2 + 4 + len(readme_figures.LATENCY_ROWS) + 2


def test_a_marker_left_open_is_an_error_not_a_swallowed_paragraph(records):
    with pytest.raises(SystemExit, match="1 of its 2 .* markers are not closed"):
        readme_figures.rendered("<!--table decode_latency-->\nprose\n<!--table decode_latency-->\n|x|\n<!--/table-->",
                                "README.md")
    with pytest.raises(SystemExit, match="1 of its 1 "):
        readme_figures.rendered("AR: <!--run run b.ar.main.bleu-->30.0\n<!--/run--> BLEU", "README.md")


def test_compare_flags_a_score_that_did_not_reproduce_and_not_a_slower_run():
    record = {"figures": {"b.ar.main.bleu": 31.96, "b.ar.steps": 1800, "workflow_minutes": 90.0}}
    same = {"figures": {"b.ar.main.bleu": 31.96, "b.ar.steps": 1800, "workflow_minutes": 120.0}}
    assert readme_figures.differences(same, record) == (
        [], ["workflow_minutes: 120.0 min (record: 90.0, x1.33)"])
    moved = {"figures": {"b.ar.main.bleu": 31.95, "workflow_minutes": 90.0}}
    assert readme_figures.differences(moved, record)[0] == ["b.ar.main.bleu: 31.95 (record: 31.96)",
                                                            "b.ar.steps: missing (record: 1800)"]


def test_the_job_span_runs_from_the_first_start_to_the_last_line_of_the_job_logs(tmp_path):
    assert job_span_seconds(tmp_path) is None
    (tmp_path / "a.log").write_text("=== 2026-12-03T10:00:00Z started (host h, pid 1): x\nbar 50%"
                                    "\n=== 2026-12-03T10:04:00Z ended: exit status 137, killed by signal 9\n"
                                    "\n=== 2026-12-03T11:00:00Z rerun; the previous run ended: ...\n"
                                    "=== 2026-12-03T11:00:00Z started (host h, pid 2): x\n"
                                    "=== 2026-12-03T11:30:00Z ended: exit status 0, finished\n")
    (tmp_path / "b.log").write_text("=== 2026-12-03T09:59:30Z started (host h, pid 3): y\n"
                                    "=== step 5 started (a job's own output)\n")
    (tmp_path / "c.txt").write_text("=== 2026-12-03T08:00:00Z started (host h, pid 4): not a job log\n")
    assert job_span_seconds(tmp_path) == 30 + 90 * 60


def test_the_run_summary_names_each_figure_by_where_it_comes_from(tmp_path):
    provenance = {"git_commit": "abc", "hardware": "2 CPU cores (X), Linux 6", "libraries": {"torch": "2.13.0"}}
    training = {"steps": 1800, "wall_seconds": 600.0, "branched_seconds": 120.0, "precision": "bfloat16",
                "plateau_step": 1500}
    synthetic = {"nar": {"final_layer": 2, "layers": {"1": {"token_accuracy": 1.0, "sequence_accuracy": 0.0},
                                                      "2": {"token_accuracy": 56.0, "sequence_accuracy": 3.0}},
                         "training": {"wall_seconds": 60.0, "precision": "float32"}, "decode_seconds": 6.0,
                         "provenance": provenance}}
    main = {"bleu": 32.01, "chrf": 55.5, "training": training, "decode_seconds": 30.0, "provenance": provenance}
    translation = {("m30k", "ar", "main"): main, ("m30k", "ar", "greedy"): {**main, "bleu": 30.5}}
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.log").write_text("=== 2026-12-03T10:00:00Z started (h): x\n"
                                             "=== 2026-12-03T10:06:00Z ended: exit status 0, finished\n")
    config = {"name": "default", "scale": "cpu", "paths": {"results": str(tmp_path)}}
    summary = run_figures(config, None, synthetic, translation)
    assert summary["git_commits"] == ["abc"] and summary["precisions"] == ["bfloat16", "float32"]
    assert summary["figures"] == {
        "workflow_minutes": 6.0, "training_minutes": (60 + 480) / 60, "decoding_minutes": 66 / 60,
        "synthetic.nar.token_accuracy": 56.0, "synthetic.nar.sequence_accuracy": 3.0,
        "m30k.ar.greedy.bleu": 30.5, "m30k.ar.greedy.chrf": 55.5,
        "m30k.ar.main.bleu": 32.01, "m30k.ar.main.chrf": 55.5,
        "m30k.ar.steps": 1800, "m30k.ar.plateau_step": 1500, "m30k.ar.training_minutes": 8.0}
