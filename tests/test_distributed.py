"""Data-parallel training through the real launch path: `torchrun` + `diffglat synthetic train`,
two gloo processes on the CPU against one process that accumulates the same micro-batches."""

import csv
import os
import subprocess
import sys

import pytest
import torch
import yaml

from diffglat.config import ConfigError, load_config
from diffglat.training import load_checkpoint

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
EXPERIMENT = "nar_pml"


def tiny_config(repo, tmp_path, results: str, **train) -> list[str]:
    """Smoke config shrunk further, without dropout (the processes draw different masks)."""
    overlay = {
        "paths": {"data": str(tmp_path / "data"), "results": str(tmp_path / results),
                  "reports": str(tmp_path / "reports")},
        "synthetic": {"data": {"train": 256, "valid": 8, "test": 8},
                      "model": {"dropout": 0.0},
                      "train": {"max_steps": 6, "max_tokens": 128, "warmup_steps": 2, "log_every": 1, **train}},
    }
    path = tmp_path / f"{results}.yaml"
    path.write_text(yaml.safe_dump(overlay))
    return [str(repo / "config" / "config.yaml"), str(repo / "config" / "smoke.yaml"), str(path)]


def diffglat(*args, launcher=(sys.executable,)):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([*launcher, "-m", "diffglat", *args], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def test_two_processes_equal_one_process_accumulating(repo, tmp_path):
    one = tiny_config(repo, tmp_path, "one", update_freq=2)
    two = tiny_config(repo, tmp_path, "two", update_freq=2)
    diffglat("synthetic", "data", "--config", *one)
    diffglat("synthetic", "train", "--config", *one, "--experiment", EXPERIMENT)
    diffglat("synthetic", "train", "--config", *two, "--experiment", EXPERIMENT, launcher=TORCHRUN)

    single = load_checkpoint(tmp_path / "one" / "synthetic" / EXPERIMENT / "model.pt")
    parallel = load_checkpoint(tmp_path / "two" / "synthetic" / EXPERIMENT / "model.pt")
    assert (single["training"]["processes"], parallel["training"]["processes"]) == (1, 2)
    assert single["training"]["steps"] == parallel["training"]["steps"] == 6
    for name, value in single["state_dict"].items():
        torch.testing.assert_close(parallel["state_dict"][name], value, rtol=1e-4, atol=1e-5, msg=name)
    assert parallel["training"]["last_stats"]["loss"] == pytest.approx(single["training"]["last_stats"]["loss"], rel=1e-4)
    # Rank 0 alone writes the log: each step once.
    log = tmp_path / "two" / "synthetic" / EXPERIMENT / "train_log.csv"
    assert [int(r["step"]) for r in csv.DictReader(log.open())] == list(range(1, 7))


def test_update_freq_must_divide_among_gpus(repo, tmp_path):
    override = tmp_path / "gpus.yaml"
    override.write_text("resources: {synthetic_train: {threads: 1, mem_mb: 1000, runtime: 5, gpu: 2}}\n"
                        "synthetic: {train: {update_freq: 3}}\n")
    with pytest.raises(ConfigError, match=r"synthetic.train.update_freq: must be a multiple of resources.synthetic_train.gpu"):
        load_config([repo / "config" / "config.yaml", override])


def test_a_job_with_two_gpus_trains_with_torchrun(repo, tmp_path):
    from test_pipeline import snakemake, workflow_copy

    work = workflow_copy(repo, tmp_path)
    (work / "config" / "gpus.yaml").write_text(
        "resources: {synthetic_train: {threads: 1, mem_mb: 1000, runtime: 5, gpu: 2}}\n"
        "synthetic: {train: {update_freq: 2}}\n")
    run = snakemake(work, "-n", "-p", "--configfile", "config/smoke.yaml", "config/gpus.yaml")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "python -m torch.distributed.run --standalone --nproc-per-node 2 -m diffglat synthetic train" in run.stdout
