"""Faults and bad artifacts: every failure names its culprit, nothing corrupt is trusted, and the
rerun recovers on its own (issue 15). Bad corpora at `prepare` are in test_mt_data.py, the
workflow-level kills in test_pipeline.py."""

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from diffglat import cli, io
from diffglat.cli.runner import read_model
from diffglat.io import Busy, CorruptFile, WriteFailed, atomic_write_text, read_json
from diffglat.training import checkpoint as checkpoint_module
from diffglat.training.checkpoint import load_checkpoint
from diffglat.training.trainer import LOCK

from helpers import make_trainer

LOGGED = "workflow/scripts/logged"


def truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def same_weights(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))


# ---- checkpoints ---------------------------------------------------------------------------------
def test_truncated_last_checkpoint_is_set_aside_and_training_resumes_from_the_one_before(tmp_path, capsys):
    straight = make_trainer(tmp_path / "a", max_steps=8)
    straight.train()
    make_trainer(tmp_path / "b", max_steps=7).train()  # checkpoint_every 3: last.pt at step 7, previous.pt at 6
    last = tmp_path / "b" / "checkpoints" / "last.pt"
    truncate(last)
    resumed = make_trainer(tmp_path / "b", max_steps=8)
    resumed.train()
    err = capsys.readouterr().err
    assert f"{last} is corrupt (" in err and "moved it to last.pt.corrupt" in err
    assert f"resuming from checkpoint {last.with_name('previous.pt')} at step 6" in err
    assert (last.parent / "last.pt.corrupt").is_file() and resumed.step == 8
    assert same_weights(straight, resumed)
    steps = [line.split(",")[0] for line in (tmp_path / "b" / "train_log.csv").read_text().splitlines()[1:]]
    assert steps == [str(s) for s in range(1, 9)]


def test_both_checkpoints_corrupt_restarts_from_scratch_to_the_same_result(tmp_path, capsys):
    straight = make_trainer(tmp_path / "a", max_steps=5)
    straight.train()
    make_trainer(tmp_path / "b", max_steps=4).train()
    for name in ("last.pt", "previous.pt"):
        (tmp_path / "b" / "checkpoints" / name).write_bytes(b"PK\x03\x04 not a checkpoint")
    again = make_trainer(tmp_path / "b", max_steps=5)
    again.train()
    err = capsys.readouterr().err
    assert err.count(" is corrupt (") == 2 and "resuming" not in err
    assert same_weights(straight, again)


def test_a_checkpoint_of_another_shape_is_corrupt_not_a_crash(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"kind": "ar"}, path)  # a readable file without the rest of a model record
    with pytest.raises(CorruptFile, match=r"model.pt is corrupt \(no model_config, vocab_size, state_dict, training\)"):
        read_model(path)
    assert not path.exists() and (tmp_path / "model.pt.corrupt").is_file()


def test_missing_best_checkpoint_restarts_the_run(tmp_path, capsys):
    def validator(model):
        return 1.0

    options = dict(validator=validator, validate_every=2, keep_best=2)
    straight = make_trainer(tmp_path / "a", max_steps=6, **options)
    straight.train()
    make_trainer(tmp_path / "b", max_steps=4, **options).train()
    best = tmp_path / "b" / "checkpoints" / "best"
    truncate(best / "step4.pt")
    again = make_trainer(tmp_path / "b", max_steps=6, **options)
    again.train()
    err = capsys.readouterr().err
    assert f"{best / 'step4.pt'} is corrupt" in err and "starts again from scratch" in err
    assert (tmp_path / "b" / "checkpoints" / "best.step4.incomplete" / "step4.pt.corrupt").is_file()
    assert same_weights(straight, again) and again.best_steps() == straight.best_steps() == [6, 4]


def test_a_new_checkpoint_replaces_the_old_only_once_it_reads_back(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    checkpoint_module.save_verified({"step": 1}, path, ("step",))
    checkpoint_module.save_verified({"step": 2}, path, ("step",))
    assert torch.load(path)["step"] == 2 and torch.load(tmp_path / "previous.pt")["step"] == 1

    def garbled(obj, f):
        f.write(b"garbage")

    monkeypatch.setattr(checkpoint_module.torch, "save", garbled)
    with pytest.raises(CorruptFile, match="the previous checkpoint is kept"):
        checkpoint_module.save_verified({"step": 3}, path, ("step",))
    monkeypatch.undo()
    assert torch.load(path)["step"] == 2


# ---- result files ----------------------------------------------------------------------------------
def test_a_corrupt_scores_file_is_named_and_moved_aside(tmp_path):
    path = tmp_path / "test.main.scores.json"
    path.write_text('{"bleu": 12.')
    with pytest.raises(CorruptFile) as err:
        read_json(path)
    assert str(err.value).startswith(f"{path} is corrupt (JSONDecodeError: ") and "rerun the workflow" in str(err.value)
    assert not path.exists() and (tmp_path / "test.main.scores.json.corrupt").read_text() == '{"bleu": 12.'


# ---- writes that fail ---------------------------------------------------------------------------------
def fail_writes(monkeypatch, code):
    """A full disk fails at the flush to disk; a read-only folder when the temp file is created."""
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    if code == errno.ENOSPC:
        monkeypatch.setattr(io.os, "fsync", fail)
    else:
        opened = io.Path.open
        monkeypatch.setattr(io.Path, "open", lambda self, mode="r", *a, **k: fail() if "w" in mode else opened(self, mode, *a, **k))


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_failed_write_names_the_file_and_keeps_the_previous_version(tmp_path, monkeypatch, code):
    path = tmp_path / "results" / "plan.json"
    atomic_write_text(path, "previous\n")
    fail_writes(monkeypatch, code)
    with pytest.raises(WriteFailed) as err:
        atomic_write_text(path, "new\n")
    assert str(err.value) == f"cannot write {path}: {os.strerror(code)} (its previous version is unchanged)"
    monkeypatch.undo()
    assert path.read_text() == "previous\n" and sorted(p.name for p in path.parent.iterdir()) == ["plan.json"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_the_cli_reports_a_failed_write_in_one_line(repo, tmp_path, monkeypatch, capsys, code):
    out = tmp_path / "plan.json"
    out.write_text("{}\n")
    fail_writes(monkeypatch, code)
    status = cli.main(["plan", "--config", str(repo / "config/config.yaml"), "--json", str(out)])
    err = capsys.readouterr().err
    assert status == 2 and err.strip().count("\n") == 0
    assert err.strip() == f"diffglat: error: cannot write {out}: {os.strerror(code)} (its previous version is unchanged)"
    assert out.read_text() == "{}\n"


def test_a_failed_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoints" / "last.pt"
    checkpoint_module.save_verified({"step": 1}, path, ("step",))

    def full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(io.os, "fsync", full)
    with pytest.raises(WriteFailed, match=r"last.new.pt: No space left on device \(nothing was written\)"):
        checkpoint_module.save_verified({"step": 2}, path, ("step",))
    monkeypatch.undo()
    assert torch.load(path)["step"] == 1 and sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]


# ---- job logs keep every run ---------------------------------------------------------------------------
def logged(repo, tmp_path, *command):
    return subprocess.Popen([str(repo / LOGGED), str(tmp_path / "job.log"), *command], start_new_session=True)


def test_a_rerun_appends_to_the_killed_runs_log_after_a_marker(repo, tmp_path):
    log = tmp_path / "job.log"
    first = logged(repo, tmp_path, "sh", "-c", "echo step 1 of the first run; sleep 30")
    deadline = time.time() + 10
    while "step 1" not in (log.read_text() if log.exists() else "") and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)  # the job and its wrapper die: no end line
    first.wait()
    log.unlink()  # what Snakemake does before it runs the job again
    # its last output has no newline (a progress bar's redraw): the end line still gets a line of its own
    assert logged(repo, tmp_path, "sh", "-c", "echo the second run; printf 'bar 10%%\\rbar 20%%'; exit 2").wait() == 2
    lines = log.read_bytes().decode().split("\n")  # carriage returns kept
    assert lines[1] == "step 1 of the first run"
    assert lines[3].endswith("rerun; the previous run ended: it wrote no end line (killed: SIGKILL, out of memory, "
                             "or a lost node)") and lines[3].startswith("=== 20")
    assert lines[5] == "the second run" and lines[6] == "bar 10%\rbar 20%"
    assert lines[7].startswith("=== 20") and lines[7].endswith("ended: exit status 2, an error (its message is above)")
    log.unlink()
    assert logged(repo, tmp_path, "true").wait() == 0
    text = log.read_text()
    assert "rerun; the previous run ended: exit status 2, an error" in text and text.count("started (") == 3


def test_sigterm_reaches_the_job_and_its_end_line_says_so(repo, tmp_path):
    script = "trap 'echo checkpoint written; exit 75' TERM; echo training; sleep 30 & wait"
    job = logged(repo, tmp_path, "bash", "-c", script)
    log = tmp_path / "job.log"
    deadline = time.time() + 10
    while "training" not in (log.read_text() if log.exists() else "") and time.time() < deadline:
        time.sleep(0.05)
    job.send_signal(signal.SIGTERM)  # to the wrapper only, as Snakemake or SLURM would
    assert job.wait(timeout=10) == 75
    text = log.read_text()
    assert "checkpoint written" in text and "ended: exit status 75, preempted by a signal" in text


# ---- the package itself ---------------------------------------------------------------------------------
def test_corrupt_prepared_data_is_named_and_the_folder_marked_for_preparation(tmp_path):
    from diffglat.data.indexed import DONE_MARKER, load_split, save_tokens
    import numpy as np

    save_tokens(tmp_path, "train.en", np.arange(10, dtype=np.uint16), np.array([4, 6]))
    save_tokens(tmp_path, "train.de", np.arange(10, dtype=np.uint16), np.array([5, 5]))
    (tmp_path / "dict.txt").write_text("")
    (tmp_path / DONE_MARKER).write_text(json.dumps({"benchmark": "tiny"}))
    truncate(tmp_path / "train.de.tokens.npy", 0.9)
    with pytest.raises(CorruptFile) as err:
        load_split(tmp_path, "train", "en", "de")
    assert str(err.value).startswith(f"{tmp_path / 'train.de.tokens.npy'} is corrupt (")
    assert "prepares the benchmark again" in str(err.value)
    assert (tmp_path / "train.de.tokens.npy.corrupt").is_file() and not (tmp_path / DONE_MARKER).exists()


def test_a_run_preempted_mid_log_window_logs_the_same_window_stats_once_resumed(tmp_path):
    """Found by the fault injection: DiffGLAT's per-window stats (train_stats.csv, Figure S2) lost the
    steps before a SIGTERM that fell inside a log window."""
    import dataclasses

    from diffglat.training import Preempted

    class WithWindowStats:  # the criterion, plus a window stat whose value depends on the step
        def __init__(self, trainer, stop_at=None):
            self.inner, self.layers, self.trainer, self.stop_at = trainer.loss_fn, trainer.loss_fn.layers, trainer, stop_at

        def __call__(self, output, batch):
            loss, stats = self.inner(output, batch)
            if self.trainer.step + 1 == self.stop_at:
                self.trainer.request_stop(signal.SIGTERM, None)
            return loss, {**stats, "window/differ/sum": float(self.trainer.step + 1) ** 2, "window/differ/n": 1.0}

    def trainer(out, stop_at=None):
        t = make_trainer(out, max_steps=8)
        t.settings = dataclasses.replace(t.settings, log_every=4)
        t.loss_fn = WithWindowStats(t, stop_at)
        return t

    trainer(tmp_path / "a").train()
    with pytest.raises(Preempted):
        trainer(tmp_path / "b", stop_at=6).train()  # inside the window of steps 5-8
    trainer(tmp_path / "b").train()
    expected = (tmp_path / "a" / "train_stats.csv").read_text()
    assert expected.splitlines()[1:] == ["4,differ,7.50000", "8,differ,43.50000"]
    assert (tmp_path / "b" / "train_stats.csv").read_text() == expected


def test_a_second_process_training_the_same_run_stops_until_the_first_is_gone(tmp_path):
    """An orphaned trainer (its job wrapper killed) or a second workflow on the same results: the
    newcomer stops at once, naming the holder, and the run's files stay the first one's."""
    make_trainer(tmp_path, max_steps=3).train()
    before = (tmp_path / "checkpoints" / "last.pt").read_bytes()
    holder = subprocess.Popen(  # holds the lock as a live trainer would, until killed
        [sys.executable, "-c", "import sys, time; from diffglat.io import exclusive\n"
         "with exclusive(sys.argv[1], 'x'):\n    print('held', flush=True); time.sleep(600)",
         str(tmp_path / LOCK)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(Busy, match=rf"training run {re.escape(str(tmp_path))} is in use by pid {holder.pid} on "):
            make_trainer(tmp_path, max_steps=6).train()
        assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == before
    finally:
        holder.send_signal(signal.SIGKILL)  # the kernel drops a dead holder's lock
        holder.wait()
    resumed = make_trainer(tmp_path, max_steps=6)
    resumed.train()
    assert resumed.step == 6
    assert (tmp_path / LOCK).read_text() == ""  # released: no stale holder named


def test_a_lock_whose_file_was_removed_or_replaced_is_no_longer_held(tmp_path):
    lock = tmp_path / "run" / LOCK
    with io.exclusive(lock, "training run r") as check_held:
        check_held()
        lock.unlink()  # rm -rf of the results while the job runs on
        with pytest.raises(Busy, match=r"removed or replaced while this process held it: stopping training run r"):
            check_held()
        lock.write_text("another run's lock\n")  # and a new run made the folder again
        with pytest.raises(Busy, match="removed or replaced"):
            check_held()


def test_the_trainer_stops_before_writing_into_a_folder_that_is_no_longer_its_own(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path, max_steps=8)  # checkpoint_every 3
    saves = []
    original = trainer.save

    def save():
        saves.append(trainer.step)
        if len(saves) == 2:
            (tmp_path / LOCK).unlink()
        original()

    monkeypatch.setattr(trainer, "save", save)
    with pytest.raises(Busy, match="removed or replaced"):
        trainer.train()
    assert saves == [3, 6] and load_checkpoint(tmp_path / "checkpoints" / "last.pt", ("step",), "")["step"] == 3


def test_the_cli_reports_a_busy_run_in_one_line(repo, monkeypatch, capsys):
    def busy(*args, **kwargs):
        raise Busy("training run results/x is in use by pid 7 on h since t (it holds results/x/.train.lock); wait")

    monkeypatch.setattr(cli, "plan", busy)
    assert cli.main(["plan", "--config", str(repo / "config/config.yaml")]) == 2
    assert capsys.readouterr().err == ("diffglat: error: training run results/x is in use by pid 7 on h since t "
                                       "(it holds results/x/.train.lock); wait\n")
