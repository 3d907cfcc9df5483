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
    config = load_config([repo / "config" / "config.yaml", repo / "config" / "smoke.yaml"])
    *_, captioning = cost_plan(config)["items"]  # with its data, MS-COCO's three models
    assert sorted(r["experiment"] for r in captioning["runs"]) == ["mscoco/ar", "mscoco/dat", "mscoco/diffglat"]
    plan = cost_plan(config, left_out={"mscoco": "no features"})  # as this run plans without it
    synthetic, translation, paraphrase = plan["items"]
    assert plan["left_out"] == {"mscoco": "no features"}
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
    # Paraphrasing (Table 5): its three models on QQP.
    assert paraphrase["paper"] == "Table 5" and paraphrase["study"] == "paraphrase"
    assert sorted(r["experiment"] for r in paraphrase["runs"]) == ["qqp/ar", "qqp/dat", "qqp/diffglat"]
    assert plan["runs"] == 3 + len(experiments) + 3 and plan["tokens"] == sum(r["tokens"] for r in runs.values())
    # A study without benchmarks plans no runs and no item.
    config["paraphrase"]["benchmarks"] = []
    assert [item["study"] for item in cost_plan(config, left_out={"mscoco": ""})["items"]] == ["synthetic", "translation"]


def test_update_freq_and_gpus_scale_tokens_and_wall_time(repo):
    config = load_config([repo / "config" / "config.yaml", repo / "config" / "paper.yaml"])
    config["synthetic"]["train"].update(max_steps=1000, max_tokens=2000, update_freq=4)
    config["resources"]["synthetic_train"]["gpu"] = 4
    run = runs_by_name(cost_plan(config))["nar"]
    assert run["tokens"] == 1000 * 2000 * 4
    assert run["device_hours"] == pytest.approx(run["tokens"] / 100_000 / 3600)
    assert run["wall_hours"] == pytest.approx(run["device_hours"] / 4)
    # Translation and paraphrase runs train in the translate_train step, on its GPUs.
    config["resources"]["translate_train"]["gpu"] = 8
    runs = runs_by_name(cost_plan(config))
    assert runs["wmt14_en_de/ar"]["devices"] == runs["qqp_diffuseq/ar"]["devices"] == 8


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
    translation_runs = sum(len(config[study]["benchmarks"]) * len(config[study]["experiments"])
                           for study in ("translation", "paraphrase"))
    assert plan["scale"] == "paper" and plan["runs"] == 3 + translation_runs
    tex = plan_tex({"Paper scale": plan})
    assert "Tables 1-2, Figure 2 & synthetic & 3 &" in tex and f"Total & & {3 + translation_runs} &" in tex


def write_log(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("step,loss,lr,tokens_per_s,elapsed_s\n" + "".join(
        f"{step},3.0,1e-3,{rate},{elapsed}\n" for step, rate, elapsed in rows))


def test_log_throughput_weights_windows_by_their_length(tmp_path):
    from diffglat.training.plan import log_throughput

    log = tmp_path / "train_log.csv"
    write_log(log, [(10, 999.0, 500.0), (20, 1000.0, 510.0), (30, 4000.0, 540.0)])  # first window: start unknown
    assert log_throughput(log) == pytest.approx((1000 * 10 + 4000 * 30) / 40)
    write_log(log, [(10, 750.0, 12.0)])
    assert log_throughput(log) == 750.0


def test_plan_takes_each_runs_throughput_from_its_train_log(repo, tmp_path):
    """A run with a train log: its own rate; a run of a measured family without one: the family's
    mean; a family with no measured run: plan.tokens_per_second."""
    from diffglat.training.plan import measured_throughput

    config = load_config([repo / "config" / "config.yaml"])
    config["paths"]["results"] = str(tmp_path)
    steps = config["translation"]["train"]["max_steps"]
    config["translation"]["experiments"] = {
        "ar": {"model": "ar"}, "ar_long": {"model": "ar", "train": {"max_steps": 2 * steps}},
        "dat": {"model": "glat_dat"}, "ctc": {"model": "ctc"}}
    write_log(tmp_path / "multi30k_en_de" / "ar" / "train_log.csv", [(10, 1.0, 1.0), (20, 2000.0, 11.0)])
    write_log(tmp_path / "multi30k_en_de" / "dat" / "train_log.csv", [(10, 1.0, 1.0), (20, 1000.0, 11.0)])
    write_log(tmp_path / "synthetic" / "nar" / "train_log.csv", [(25, 8000.0, 3.0)])
    measured = measured_throughput(config)
    assert measured == {"translation": {"multi30k_en_de/ar": 2000.0, "multi30k_en_de/dat": 1000.0},
                        "synthetic": {"nar": 8000.0}}
    plan = cost_plan(config, measured)
    runs = runs_by_name(plan)
    tokens = steps * config["translation"]["train"]["max_tokens"]
    assert runs["multi30k_en_de/ar"]["throughput_from"] == "measured"
    assert runs["multi30k_en_de/ar"]["device_hours"] == pytest.approx(tokens / 2000 / 3600)
    assert runs["multi30k_en_de/ar_long"]["throughput_from"] == "family"
    assert runs["multi30k_en_de/ar_long"]["device_hours"] == pytest.approx(2 * tokens / 2000 / 3600)
    assert runs["multi30k_en_de/dat"]["device_hours"] == pytest.approx(tokens / 1000 / 3600)
    assert runs["multi30k_en_de/ctc"]["throughput_from"] == "config"
    assert runs["multi30k_en_de/ctc"]["device_hours"] == pytest.approx(tokens / 9500 / 3600)
    # synthetic: nar measured; nar_pml shares its family (nat); ar has none
    assert runs["nar_pml"]["throughput_from"] == "family" and runs["ar"]["throughput_from"] == "config"
    translation = {i["study"]: i for i in plan["items"]}["translation"]
    assert translation["measured_runs"] == 2
    assert translation["tokens_per_second"] == pytest.approx(translation["tokens"] / (translation["device_hours"] * 3600))
    assert cost_plan(config)["items"][1]["runs"][0]["throughput_from"] == "config"  # without logs: the config


def test_a_branch_costs_only_its_own_steps(repo):
    """The iterative DiffGLAT variants train on from the shared warm-up's last step."""
    config = load_config([repo / "config" / "config.yaml"])
    runs = runs_by_name(cost_plan(config))
    experiments = config["translation"]["experiments"]
    warmup = experiments["diffglat_warmup"]["train"]["max_steps"]
    assert experiments["diffglat_3"]["branch_from"] == "diffglat_warmup"
    assert runs["multi30k_en_de/diffglat_3"]["steps"] == experiments["diffglat_3"]["train"]["max_steps"] - warmup
    assert runs["multi30k_en_de/diffglat_warmup"]["steps"] == warmup
