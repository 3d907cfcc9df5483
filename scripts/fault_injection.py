"""Fault injection: kill the smoke pipeline at random moments, rerun it, and check that it ends
exactly where an uninterrupted run ends (issue 15).

    .venv/bin/python scripts/fault_injection.py --kills 30            # by hand (about 40 min)
    .venv/bin/python scripts/fault_injection.py --kills 5 --seed 2    # what CI runs, via tests/test_pipeline.py

Each trial runs `snakemake --cores 2 --configfile config/smoke.yaml` in a scratch copy of the
workflow and, at a moment drawn uniformly from the time left to it, does one of
  workflow  SIGKILL snakemake and every job (a crashed node, `kill -9` of the session);
  job       SIGKILL one running job process (the OOM killer);
  preempt   SIGTERM a running training process (SLURM's time limit: it checkpoints and exits 75);
then checks that no file a later step reads is half-written, unlocks the working directory where
Snakemake left it locked, and reruns the same command, which is killed again until the trial's kills
are spent; the last rerun goes to the end. The results (every scores file without its timings and
provenance, every hypothesis file, every model's weights, every training and validation log
without its timings, every table and figure CSV) must equal those of an uninterrupted run.
It prints each kill (its moment, kind, and the jobs it hit) and how many were tried and survived.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from diffglat.report.summary import job_span_seconds  # noqa: E402

CONFIG = ("--configfile", "config/smoke.yaml")
RESULTS, DATA, REPORTS = Path("results/smoke"), Path("data/smoke"), Path("reports/smoke")
KINDS = ("workflow", "job", "preempt")
# Fields that measure time or say where and when a run happened, not what it computed.
VOLATILE = {"provenance", "seconds", "decode_seconds", "wall_seconds", "branched_seconds", "elapsed", "elapsed_s",
            "tokens_per_s", "stats_seconds"}


# ---- running the workflow ----------------------------------------------------------------------------
def workflow_copy(dest: Path) -> Path:
    """A scratch copy of the workflow at dest/work, the package linked, the shared data beside it."""
    work = dest / "work"
    work.mkdir(parents=True)
    shutil.copy(REPO / "Snakefile", work)
    for folder in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / folder, work / folder)
    (work / "diffglat").symlink_to(REPO / "diffglat")
    (dest / "shared").symlink_to(REPO.parent / "shared")
    return work


def snakemake(work: Path, *args: str, log=None) -> subprocess.Popen:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", *args, *CONFIG], cwd=work, env=env,
                            stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)


def run_to_end(work: Path, log) -> float:
    """Run the workflow uninterrupted (unlocking it first); its wall time."""
    snakemake(work, "--unlock", log=log).wait()
    start = time.monotonic()
    if snakemake(work, log=log).wait() != 0:
        raise RuntimeError(f"the workflow in {work} failed; see {log.name}")
    return time.monotonic() - start


def jobs(process: psutil.Process) -> list[psutil.Process]:
    """The python processes of running jobs (`python -m diffglat ...`) under snakemake, not the
    workflow/scripts/logged wrappers around them (killing one of those would orphan its job)."""
    found = []
    for child in process.children(recursive=True):
        try:
            command = child.cmdline()
        except psutil.Error:
            continue
        wrapper = any(Path(word).name == "logged" for word in command)
        # `python -m diffglat`, or torchrun's launcher and workers (`python -u -m diffglat`)
        if not wrapper and any(command[i:i + 2] == ["-m", "diffglat"] for i in range(1, len(command) - 1)):
            found.append(child)
    return found


def describe(job: psutil.Process) -> str:
    try:
        command = job.cmdline()
    except psutil.Error:
        return "(ended)"
    words = command[command.index("diffglat") + 1:]
    return " ".join(w for w in words if not w.startswith("--") and w not in ("results/smoke/config.resolved.yaml",))


def kill(process: subprocess.Popen, kind: str, rng: random.Random) -> str:
    """Deliver one fault of `kind`; say what it hit."""
    root = psutil.Process(process.pid)
    running = jobs(root)
    if kind == "preempt":
        training = [j for j in running if "train" in j.cmdline()]
        if not training:
            kind = "job"
        else:
            victim = rng.choice(training)
            hit = describe(victim)
            victim.send_signal(signal.SIGTERM)
            return f"preempt (SIGTERM) {hit}"
    if kind == "job" and running:
        victim = rng.choice(running)
        hit = describe(victim)
        victim.send_signal(signal.SIGKILL)
        return f"job (SIGKILL) {hit}"
    everything = [root, *root.children(recursive=True)]
    hit = ", ".join(sorted({describe(j) for j in running})) or "no job running"
    for p in everything:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    return f"workflow (SIGKILL) [{hit}]"


# ---- what a run produced ------------------------------------------------------------------------------
def half_written(work: Path) -> list[str]:
    """Files a later step would read that do not parse: every JSON, checkpoint and token array
    (all written atomically), table CSV, and the logs of finished training runs."""
    bad = []
    for path in sorted(p for root in (RESULTS, DATA, REPORTS) for p in (work / root).rglob("*") if p.is_file()):
        relative = path.relative_to(work)
        if any(part.startswith(".") for part in relative.parts) or "logs" in relative.parts:
            continue  # temp files of unfinished writes, and job logs
        try:
            if path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
            elif path.suffix == ".pt":
                torch.load(path, map_location="cpu", weights_only=False)
            elif path.suffix == ".npy":
                np.load(path, mmap_mode="r")
            elif path.suffix == ".csv" and ("tables" in relative.parts or (path.parent / "model.pt").is_file()):
                with path.open(newline="") as f:
                    rows = list(csv.reader(f))
                if not rows or any(len(row) != len(rows[0]) for row in rows):
                    raise ValueError("rows of unequal length")
        except Exception as err:  # noqa: BLE001 - any failure to read is what we look for
            bad.append(f"{relative}: {type(err).__name__}: {err}")
    return bad


def wall_time(work: Path) -> float:
    """From the first job's start to the last job's end, by the lines workflow/scripts/logged writes."""
    seconds = job_span_seconds(work / RESULTS / "logs")
    if seconds is None:
        raise ValueError(f"{work} holds no job logs with start and end lines: not a finished run of this workflow")
    return seconds


def stable(value):
    """A JSON value without its timings and provenance."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def stable_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return [{k: v for k, v in row.items() if k not in VOLATILE} for row in csv.DictReader(f)]


def results(work: Path) -> dict[str, object]:
    """relative path -> what must be reproduced of that file."""
    found = {}
    files = [*(work / RESULTS).rglob("*"), *(work / DATA).rglob("stats.json"), *(work / REPORTS).rglob("*.csv")]
    for path in sorted(files):
        relative = str(path.relative_to(work))
        if not path.is_file() or "/logs/" in relative or "/checkpoints/" in relative or "/." in relative:
            continue
        if path.name.endswith(".scores.json") or path.name == "stats.json":
            found[relative] = stable(json.loads(path.read_text()))
        elif path.suffix == ".hyp":
            found[relative] = path.read_bytes()
        elif path.name == "model.pt":
            state = torch.load(path, map_location="cpu", weights_only=False)
            found[relative] = {k: v.numpy().tobytes() for k, v in state["state_dict"].items()}
            found[relative + ":training"] = stable(state["training"])
        elif path.suffix == ".csv":
            found[relative] = stable_csv(path)
    return found


def differences(expected: dict, got: dict) -> list[str]:
    diff = [f"missing {name}" for name in expected if name not in got]
    diff += [f"unexpected {name}" for name in got if name not in expected]
    diff += [f"differs: {name}" for name in expected if name in got and expected[name] != got[name]]
    return diff


# ---- the trials -------------------------------------------------------------------------------------
def trial(work: Path, kills: int, span: float, rng: random.Random, log, say) -> list[str]:
    """Kill the workflow in `work` up to `kills` times, rerunning after each; the kills delivered."""
    delivered = []
    while len(delivered) < kills:
        snakemake(work, "--unlock", log=log).wait()
        process = snakemake(work, log=log)
        started = time.monotonic()
        moment = rng.uniform(0, 2 * span / (kills + 1))  # on average the kills divide the run evenly
        kind = rng.choice(KINDS)
        while process.poll() is None and time.monotonic() - started < moment:
            time.sleep(0.05)
        if process.poll() is not None:  # the run ended before its moment: the rest of the work was done
            if process.returncode == 0:
                break
            continue
        what = kill(process, kind, rng)
        process.wait()
        delivered.append(what)
        bad = half_written(work)
        say(f"  kill {len(delivered)} at {moment:5.1f}s of its run: {what}"
            + (f"\n    HALF-WRITTEN: {bad}" if bad else ""))
        if bad:
            raise AssertionError(f"half-written files after kill {len(delivered)} ({what}): {bad}")
    return delivered


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=30, help="kills in all (default 30)")
    parser.add_argument("--per-trial", type=int, default=5, help="kills per trial before it runs to the end (default 5)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("/tmp/diffglat-faults"), help="scratch folder (emptied)")
    parser.add_argument("--reference", type=Path,
                        help="the working directory of a finished, uninterrupted smoke run (default: run one)")
    args = parser.parse_args(argv)
    return inject(args.kills, args.per_trial, args.seed, args.work, args.reference)


def inject(kills: int, per_trial: int, seed: int, scratch: Path, reference: Path | None = None, say=print) -> int:
    """Run the trials; 0 if every kill was survived with results equal to the reference."""
    rng = random.Random(seed)
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    with (scratch / "snakemake.log").open("w") as log:
        if reference is None:
            reference = workflow_copy(scratch / "reference")
            say(f"uninterrupted reference run in {reference} ...")
            run_to_end(reference, log)
        expected, span = results(reference), wall_time(reference)
        say(f"reference: {len(expected)} result entries; kill moments drawn over {span:.0f}s")
        tried, survived, number = 0, 0, 0
        while tried < kills:
            number += 1
            work = workflow_copy(scratch / f"trial{number}")
            say(f"trial {number} in {work}")
            delivered = trial(work, min(per_trial, kills - tried), span, rng, log, say)
            run_to_end(work, log)
            diff = differences(expected, results(work))
            tried += len(delivered)
            if diff:
                say(f"  FAILED: {len(diff)} differences from the uninterrupted run, e.g. {diff[:5]}")
                break
            survived += len(delivered)
            say(f"  results identical to the uninterrupted run ({len(delivered)} kills survived)")
            shutil.rmtree(scratch / f"trial{number}")
    say(f"fault injection: {tried} kills tried, {survived} survived (seed {seed})")
    return 0 if survived == tried else 1


if __name__ == "__main__":
    sys.exit(main())
