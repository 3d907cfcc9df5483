"""The smoke pipeline submitted to a real SLURM cluster with the CI profile: every job goes through
sbatch, and the results equal those of a local run.

Needs a cluster: `.ci/with-slurm make test` starts one (CI does) and sets DIFFGLAT_SLURM=1;
without it the test is skipped.
"""

import csv
import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from test_pipeline import snakemake, workflow_copy

pytestmark = pytest.mark.pipeline
SMOKE = ("--configfile", "config/smoke.yaml")
PROFILE = "profiles/slurm-ci"


@pytest.fixture
def cluster():
    if os.environ.get("DIFFGLAT_SLURM") != "1":
        pytest.skip("no SLURM cluster (run under .ci/with-slurm, as CI does)")


# Cheap steps that Snakemake runs itself on a cluster too (the workflow's `localrules`).
LOCAL_RULES = {"all", "synthetic_data", "plan", "report"}


def planned_jobs(work: Path) -> dict[str, int]:
    """Rule -> count of the dry run's jobs that go to the cluster (local rules excluded)."""
    run = snakemake(work, "-n", *SMOKE)
    assert run.returncode == 0, run.stderr[-3000:]
    table = run.stdout.split("Job stats:")[1].split("total")[0]
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.M) if rule not in LOCAL_RULES}


def slurm_jobs(work: Path) -> list[dict]:
    """Jobs the controller knows (it keeps finished ones MinJobAge seconds) that ran in `work`."""
    out = subprocess.run(["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True, check=True).stdout
    jobs = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.splitlines()]
    return [job for job in jobs if job.get("WorkDir") == str(work)]


def scores(work: Path) -> dict[str, dict]:
    """The numbers of each experiment's scores that a deterministic rerun must reproduce exactly."""
    found = {}
    for path in sorted((work / "results" / "smoke" / "synthetic").glob("*/test.scores.json")):
        s = json.loads(path.read_text())
        t = s["training"]
        found[path.parent.name] = {"layers": s["layers"], "train_probe": s["train_probe"], "steps": t["steps"],
                                   "last_stats": t["last_stats"], "fingerprint": t["fingerprint"]}
    return found


def tidy_csvs(work: Path) -> dict[str, list[dict]]:
    reports = work / "reports" / "smoke"
    return {p.name: list(csv.DictReader(p.open())) for p in sorted(reports.glob("*/*.csv"))}


def test_smoke_pipeline_through_slurm_equals_local_run(repo, tmp_path, cluster):
    (tmp_path / "local").mkdir()
    (tmp_path / "slurm").mkdir()
    local, remote = workflow_copy(repo, tmp_path / "local"), workflow_copy(repo, tmp_path / "slurm")
    expected = planned_jobs(remote)

    # The cluster run mostly waits on sbatch and squeue: the local run goes meanwhile.
    submitted = snakemake(remote, "--profile", PROFILE, *SMOKE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    run = snakemake(local, *SMOKE)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    try:
        log, _ = submitted.communicate(timeout=1200)
    except subprocess.TimeoutExpired:
        submitted.send_signal(signal.SIGINT)  # Snakemake ignores SIGTERM while it waits on jobs
        log, _ = submitted.communicate(timeout=120)
    assert submitted.returncode == 0, log[-5000:]

    # Every cluster job went through sbatch: SLURM ran it in this folder and wrote its log there.
    jobs = slurm_jobs(remote)
    rules = sorted(job["Comment"].split("_wildcards_")[0] for job in jobs)
    assert rules == sorted(f"rule_{rule}" for rule, n in expected.items() for _ in range(n))
    assert {job["JobState"] for job in jobs} == {"COMPLETED"}
    assert {job["Requeue"] for job in jobs} == {"1"}  # submitted requeue-able: preemption requeues them
    # The CI profile gives training jobs the cluster's GPU; SLURM scheduled them with it.
    assert all((job.get("TresPerJob") == "gres:gpu:1") == job["Comment"].startswith("rule_synthetic_train")
               for job in jobs)
    logs = {p.stem for p in (remote / ".snakemake" / "slurm_logs").rglob("*.log")}
    assert logs == {job["JobId"] for job in jobs}
    assert log.count("has been submitted with SLURM jobid") == sum(expected.values())

    assert (remote / "reports" / "smoke" / "diffglat-report.pdf").read_bytes().startswith(b"%PDF")
    assert tidy_csvs(remote) == tidy_csvs(local) and tidy_csvs(local)
    assert scores(remote) == scores(local) and scores(local)
    plans = [json.loads((w / "results" / "smoke" / "plan" / "paper.json").read_text()) for w in (local, remote)]
    assert plans[0]["items"] == plans[1]["items"]
