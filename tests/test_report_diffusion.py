"""The report's DiffGLAT evidence and training record: the per-transition differ-fraction figure, the
before/after table and the convergence table, built from result records alone."""

import csv

from diffglat.report.figures import diffusion_figure
from diffglat.report.translation import before_after_tex, convergence_tex, late_gain


def record(bleu, pairs, window_stats=()):
    return {"bleu": bleu, "training": {"train_pairs": pairs, "window_stats": list(window_stats)}}


def test_diffusion_figure_plots_each_transition_of_each_run(tmp_path):
    stats = [{"step": step, "name": f"differ_t{k}", "value": value}
             for step in (10, 20) for k, value in ((1, 0.5), (2, 0.25))]
    results = {("b", "diffglat_3", "main"): record(10.0, 5, stats), ("b", "diffglat_3", "it1"): record(9.0, 5, stats),
               ("b", "dat", "main"): record(12.0, 5), ("other", "diffglat_1", "main"): record(1.0, 5, stats)}
    assert diffusion_figure(results, "b", tmp_path / "diffusion_b")
    assert (tmp_path / "diffusion_b.pdf").is_file() and (tmp_path / "diffusion_b.png").is_file()
    rows = list(csv.DictReader((tmp_path / "diffusion_b.csv").open()))
    assert {(r["experiment"], r["step"], r["transition"], r["differ_fraction"]) for r in rows} == {
        ("diffglat_3", "10", "1", "0.5000"), ("diffglat_3", "10", "2", "0.2500"),
        ("diffglat_3", "20", "1", "0.5000"), ("diffglat_3", "20", "2", "0.2500")}
    assert not diffusion_figure({("b", "dat", "main"): record(12.0, 5)}, "b", tmp_path / "none")


def test_before_after_table_puts_this_run_beside_the_previous_one():
    previous = {"source": "commit abc", "caption": "Before and after", "benchmark": "b",
                "rows": [{"experiment": "dat", "variant": "main", "bleu": 20.0, "train_pairs": 100},
                         {"experiment": "glat_x", "variant": "main", "bleu": 8.0},
                         {"experiment": "missing", "variant": "main", "bleu": 1.0}]}
    tex = before_after_tex(previous, {("b", "dat", "main"): record(21.5, 190), ("b", "glat_x", "main"): record(7.0, 190)})
    assert r"dat & main & 100 & 190 & 20.00 & 21.50 & +1.50 \\" in tex
    assert r"glat\_x & main & 190 & 190 & 8.00 & 7.00 & -1.00 \\" in tex
    assert r"missing & main & -- & -- & 1.00 & \textit{not run} & -- \\" in tex
    assert before_after_tex(None, {}) == ""
    assert "Before and after: commit abc against this run" in tex


def test_late_gain_is_the_climb_of_the_last_validations():
    validations = [{"step": 100 * i, "score": s} for i, s in enumerate([5.0, 9.0, 10.0, 10.2, 9.8], 1)]
    assert late_gain(validations, 2) == 10.2 - 10.0
    assert late_gain(validations, 3) == 10.2 - 9.0
    assert late_gain(validations, 5) is None


def test_convergence_table_gives_steps_epochs_own_minutes_and_why_training_stopped():
    def run(steps, plateau_step, scores, branched=0.0):
        return {"training": {"steps": steps, "epochs": steps / 100, "wall_seconds": 600.0 + branched,
                             "branched_seconds": branched, "plateau": {"patience": 2, "min_gain": 0.3},
                             "plateau_step": plateau_step,
                             "validations": [{"step": 100 * i, "score": s} for i, s in enumerate(scores, 1)]}}
    results = {("b", "ar", "main"): run(500, 500, [10.0, 20.0, 25.0, 25.1, 24.0]),
               ("b", "dat", "main"): run(300, None, [5.0, 9.0, 12.0], branched=120.0),
               ("b", "dat", "lookahead"): run(300, None, [1.0])}
    config = {"translation": {"benchmarks": ["b"], "validate": {"plateau": {"patience": 2, "min_gain": 0.3}}},
              "paraphrase": {"benchmarks": [], "validate": {"plateau": None}},
              "captioning": {"benchmarks": [], "validate": {"plateau": None}}}
    tex = convergence_tex(results, config)
    assert r"b & ar & 500 & 5.0 & 10.0 & plateau & 25.10 (400) & +0.10 \\" in tex
    assert r"b & dat & 300 & 3.0 & 10.0 & max. steps & 12.00 (300) & +7.00 \\" in tex
    assert "lookahead" not in tex  # one row per training, not per decoding
    assert "translation.validate.plateau stops a run once its last 2 validations gain less than 0.3" in tex
    assert "paraphrase.validate" not in tex  # a study without benchmarks trained nothing
