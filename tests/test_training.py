"""Trainer: resumption is exact, checkpoints are atomic, models learn."""

import csv
import os
import signal

import numpy as np
import pytest
import torch

from diffglat.cli.synthetic import synthetic_loss
from diffglat.decoding import ar_greedy, nat_argmax
from diffglat.training import Preempted, Trainer, TrainSettings, load_checkpoint, seed_everything
from diffglat.training import checkpoint as checkpoint_module

from helpers import SETTINGS, make_trainer, tiny_dataset, tiny_model

def test_resume_gives_the_same_next_step(tmp_path):
    # 8 steps cross an epoch boundary (64 pairs / 16 per batch = 4 batches per epoch).
    straight = make_trainer(tmp_path / "a", max_steps=8)
    expected = straight.train()
    interrupted = make_trainer(tmp_path / "b", max_steps=7)
    interrupted.train()
    resumed = make_trainer(tmp_path / "b", max_steps=8)
    got = resumed.train()
    assert resumed.step == 8
    assert got["loss"] == expected["loss"]
    for p, q in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.equal(p, q)
    steps = [int(r["step"]) for r in csv.DictReader((tmp_path / "b" / "train_log.csv").open())]
    assert steps == list(range(1, 9))


def test_resume_restores_mid_run_checkpoint(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=5)
    trainer.train()
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert state["step"] == 5 and state["epoch"] == 1 and state["batch_in_epoch"] == 1


def test_checkpoint_for_another_config_is_set_aside(tmp_path, capsys):
    make_trainer(tmp_path, max_steps=3).train()
    best = tmp_path / "checkpoints" / "best"
    best.mkdir()
    (best / "step3.pt").write_bytes(b"weights of the old run")
    fresh = make_trainer(tmp_path, max_steps=2, fingerprint="other")
    fresh.train()
    assert fresh.step == 2
    assert (tmp_path / "checkpoints" / "last.f1.stale.pt").is_file()
    # the old run's best weights go aside with it: averaging must not pick them up
    assert not (best / "step3.pt").exists() and (tmp_path / "checkpoints" / "best.f1.stale" / "step3.pt").is_file()
    assert "different config" in capsys.readouterr().err


def test_sigusr1_stops_after_the_next_step_with_its_checkpoint(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=8)  # checkpoint_every 3: the signal's step 4 is not one
    step = trainer.train_step

    def step_then_signal(batches):
        stats = step(batches)
        if trainer.step == 3:
            os.kill(os.getpid(), signal.SIGUSR1)
        return stats

    trainer.train_step = step_then_signal
    with pytest.raises(Preempted, match="at step 4"):
        trainer.train()
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 4
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    resumed = make_trainer(tmp_path, max_steps=8)
    resumed.train()
    assert resumed.step == 8


def test_interrupted_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    checkpoint_module.save_atomic({"step": 1}, path)

    def crash(obj, f):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_module.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        checkpoint_module.save_atomic({"step": 2}, path)
    assert load_checkpoint(path) == {"step": 1}


@pytest.mark.parametrize("kind", ["ar", "nat"])
def test_models_overfit_a_single_modality(tmp_path, kind):
    """With one modality the task is deterministic: both families must learn it exactly."""
    dataset, _, d = tiny_dataset(32, seed=3)
    dataset.tgt = dataset.tgt_merged = dataset.src + 10  # ids shift like numbers: x -> x + 10 everywhere
    seed_everything(0)
    model = tiny_model(kind, d, dropout=0.0)
    loss = synthetic_loss({"model": kind}, 2, 0.0, d.pad)
    settings = TrainSettings(max_steps=300, **{**SETTINGS, "max_tokens": 32 * 7, "lr": 3e-3, "warmup_steps": 20})
    Trainer(model, loss, dataset, settings, tmp_path, torch.device("cpu"), "x", show_progress=False).train()
    model.eval()
    batch = dataset.collate(np.arange(32))
    if kind == "ar":
        hyp = ar_greedy(model, batch["src"], 7, d.bos, d.eos)
        assert torch.equal(hyp, batch["tgt_eos"])
    else:
        hyp = nat_argmax(model, batch["src"], batch["tgt_lengths"], (2,))[2]
        assert torch.equal(hyp, batch["tgt"])


def test_window_stats_are_averaged_per_log_window_and_resume_cleanly(tmp_path):
    """Loss stats named window/<name>/sum and /n land in train_stats.csv as their window mean (the
    DiffGLAT per-transition differ fractions); a resumed run drops the rows past its checkpoint."""
    class Windowed:
        def __init__(self, inner):
            self.inner, self.calls, self.layers = inner, 0, inner.layers

        def __call__(self, output, batch):
            loss, stats = self.inner(output, batch)
            self.calls += 1
            return loss, {**stats, "window/odd/sum": float(self.calls % 2), "window/odd/n": 1.0}

    def trainer(max_steps, log_every):
        t = make_trainer(tmp_path, max_steps)
        t.loss_fn, t.settings.log_every = Windowed(t.loss_fn), log_every
        return t

    trainer(4, log_every=2).train()
    rows = list(csv.DictReader((tmp_path / "train_stats.csv").open()))
    assert [(r["step"], r["name"], float(r["value"])) for r in rows] == [("2", "odd", 0.5), ("4", "odd", 0.5)]
    assert "window/odd/sum" not in load_checkpoint(tmp_path / "checkpoints" / "last.pt")["last_stats"]
    with open(tmp_path / "train_stats.csv", "a") as f:
        f.write("5,odd,9\n")  # a row a killed run wrote after its last checkpoint (step 4)
    trainer(6, log_every=1).train()
    rows = list(csv.DictReader((tmp_path / "train_stats.csv").open()))
    assert [int(r["step"]) for r in rows] == [2, 4, 5, 6]
