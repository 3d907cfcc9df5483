"""SIGTERM (a SLURM time limit or preemption) mid-training: checkpoint, clean exit, exact resume."""

import csv
import os
import signal
import subprocess
import sys
import time

from diffglat.cli import EXIT_PREEMPTED
from diffglat.training import load_checkpoint

from test_distributed import EXPERIMENT, TORCHRUN, diffglat, tiny_config

STEPS = 400


def logged_steps(log):
    return [int(r["step"]) for r in csv.DictReader(log.open())] if log.is_file() else []


def signal_mid_run(command, log, signum=signal.SIGTERM):
    """Start training, signal it once it has logged a few steps; returns (exit status, seconds to exit)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 300
    while len(logged_steps(log)) < 5 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "training ended before it could be signalled:\n" + process.stdout.read()[-3000:]
    process.send_signal(signum)
    sent = time.monotonic()
    status = process.wait(timeout=60)
    return status, time.monotonic() - sent


def check_resumed(results, checkpoint_step):
    model = load_checkpoint(results / "model.pt")
    assert model["training"]["steps"] == STEPS
    assert logged_steps(results / "train_log.csv") == list(range(1, STEPS + 1))
    assert 5 <= checkpoint_step < STEPS


def test_sigterm_checkpoints_and_the_rerun_resumes(repo, tmp_path):
    config = tiny_config(repo, tmp_path, "results", max_steps=STEPS, checkpoint_every=10 * STEPS)
    diffglat("synthetic", "data", "--config", *config)
    train = ["synthetic", "train", "--config", *config, "--experiment", EXPERIMENT]
    results = tmp_path / "results" / "synthetic" / EXPERIMENT

    status, seconds = signal_mid_run([sys.executable, "-m", "diffglat", *train], results / "train_log.csv")
    assert status == EXIT_PREEMPTED
    assert seconds < 30
    # The only checkpoint is the one the signal asked for (checkpoint_every lies past the end).
    state = load_checkpoint(results / "checkpoints" / "last.pt")
    assert state["step"] == logged_steps(results / "train_log.csv")[-1]
    assert not (results / "model.pt").exists()

    rerun = diffglat(*train)
    assert f"resuming from checkpoint {results / 'checkpoints' / 'last.pt'} at step {state['step']}" in rerun.stderr
    check_resumed(results, state["step"])


def test_sigterm_to_torchrun_stops_every_process_at_one_step(repo, tmp_path):
    config = tiny_config(repo, tmp_path, "results", max_steps=STEPS, checkpoint_every=10 * STEPS, update_freq=2)
    diffglat("synthetic", "data", "--config", *config)
    train = ["synthetic", "train", "--config", *config, "--experiment", EXPERIMENT]
    results = tmp_path / "results" / "synthetic" / EXPERIMENT

    status, seconds = signal_mid_run([*TORCHRUN, "-m", "diffglat", *train], results / "train_log.csv")
    assert status != 0 and seconds < 60
    state = load_checkpoint(results / "checkpoints" / "last.pt")
    assert not (results / "model.pt").exists()

    rerun = diffglat(*train, launcher=TORCHRUN)
    assert f"at step {state['step']}" in rerun.stderr
    check_resumed(results, state["step"])
