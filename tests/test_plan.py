"""`diffglat plan`: the runs, tokens and device-hours a config implies, per paper item."""

import json
import subprocess
import sys

import pytest

from diffglat.config import load_config
from diffglat.report.plan import plan_tex
from diffglat.training.plan import cost_plan


def runs_by_name(plan):
    return {r["experiment"]: r for item in plan["items"] for r in item["runs"]}


def test_smoke_plan_counts_every_run(repo):
    plan = cost_plan(load_config([repo / "config" / "config.yaml", repo / "config" / "smoke.yaml"]))
    synthetic, translation = plan["items"]
    assert synthetic["paper"] == "Tables 1-2, Figure 2" and synthetic["study"] == "synthetic"
    runs = runs_by_name(plan)
    assert sorted(r["experiment"] for r in synthetic["runs"]) == ["ar", "nar", "nar_pml"]
    assert runs["nar"]["tokens"] == 30 * 1024 and runs["nar"]["devices"] == 1
    assert runs["nar"]["device_hours"] == pytest.approx(30 * 1024 / 9500 / 3600)
    # Translation: one run per benchmark and experiment.
    config = load_config([repo / "config" / "config.yaml", repo / "config" / "smoke.yaml"])
    experiments = config["translation"]["experiments"]
    assert sorted(r["experiment"] for r in translation["runs"]) == sorted(f"multi30k_en_de/{e}" for e in experiments)
    assert runs["multi30k_en_de/ar"]["tokens"] == 10 * 2048
    assert plan["runs"] == 3 + len(experiments) and plan["tokens"] == sum(r["tokens"] for r in runs.values())


def test_update_freq_and_gpus_scale_tokens_and_wall_time(repo):
    config = load_config([repo / "config" / "config.yaml", repo / "config" / "paper.yaml"])
    config["synthetic"]["train"].update(max_steps=1000, max_tokens=2000, update_freq=4)
    config["resources"]["synthetic_train"]["gpu"] = 4
    run = runs_by_name(cost_plan(config))["nar"]
    assert run["tokens"] == 1000 * 2000 * 4
    assert run["device_hours"] == pytest.approx(run["tokens"] / 100_000 / 3600)
    assert run["wall_hours"] == pytest.approx(run["device_hours"] / 4)


def test_a_new_study_appears_without_code_changes(repo):
    config = load_config([repo / "config" / "config.yaml"])
    config["mt"] = {"train": {"max_steps": 100, "max_tokens": 1000, "update_freq": 2},
                    "experiments": {"diffglat": {"model": "dat", "train": {"max_steps": 300}}, "at": {"model": "ar"}}}
    config["plan"]["tokens_per_second"]["mt"] = 500
    item = {i["study"]: i for i in cost_plan(config)["items"]}["mt"]
    assert item["paper"] == "mt study" and item["tokens_per_second"] == 500
    assert {r["experiment"]: r["tokens"] for r in item["runs"]} == {"diffglat": 600_000, "at": 200_000}
    assert item["device_hours"] == pytest.approx(800_000 / 500 / 3600)


def test_cli_prints_paper_scale_and_writes_json_for_the_report(repo, tmp_path):
    out = tmp_path / "plan.json"
    run = subprocess.run([sys.executable, "-m", "diffglat", "plan", "--config", "config/config.yaml",
                          "config/paper.yaml", "--json", str(out)], cwd=repo, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "Tables 1-2, Figure 2" in run.stdout and "A100 GPU-hours" in run.stdout
    plan = json.loads(out.read_text())
    config = load_config([repo / "config" / "config.yaml", repo / "config" / "paper.yaml"])
    translation_runs = len(config["translation"]["benchmarks"]) * len(config["translation"]["experiments"])
    assert plan["scale"] == "paper" and plan["runs"] == 3 + translation_runs
    tex = plan_tex({"Paper scale": plan})
    assert "Tables 1-2, Figure 2 & synthetic & 3 &" in tex and f"Total & & {3 + translation_runs} &" in tex
