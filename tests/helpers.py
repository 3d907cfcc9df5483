"""Tiny models and data shared by the tests."""

import numpy as np
import torch

from diffglat.data import synthetic as syn
from diffglat.cli.families import build_model
from diffglat.cli.synthetic import synthetic_loss
from diffglat.training import Trainer, TrainSettings, seed_everything

TINY_MODEL = dict(encoder_layers=2, decoder_layers=2, d_model=32, heads=2, ffn_dim=64, dropout=0.1, positions="sinusoidal")
MAX_NUMBER = 10


def tiny_dataset(n=64, seq_len=6, seed=0):
    split = syn.generate(n, seq_len, MAX_NUMBER, np.random.default_rng(seed))
    dictionary = syn.dictionary(MAX_NUMBER)
    return syn.SyntheticDataset(split, dictionary, MAX_NUMBER), split, dictionary


def tiny_model(kind, dictionary, **overrides):
    return build_model(kind, {**TINY_MODEL, **overrides}, len(dictionary), dictionary.pad)


def fit(model, criterion, batch, steps, lr=3e-3):
    """Adam on one batch for `steps` steps in train mode (the step number reaches models with
    schedules) -> each step's stats."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for step in range(steps):
        model.train()
        loss, stats = criterion(model.forward_batch(batch, criterion.layers, step), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(stats)
    return history


SETTINGS = dict(max_tokens=96, lr=1e-3, warmup_steps=4, clip_norm=1.0, weight_decay=0.0,
                label_smoothing=0.1, checkpoint_every=3, log_every=1, seed=5)


def make_trainer(out_dir, max_steps, kind="nat", fingerprint="f1", **options):
    """A Trainer of a tiny model on tiny synthetic data (the same model and data for every call); options: Trainer's keywords."""
    dataset, _, d = tiny_dataset(64)
    seed_everything(5)
    model = tiny_model(kind, d)
    experiment = {"model": kind, **({"pml_middle_layer": 1} if kind == "nat" else {})}
    loss = synthetic_loss(experiment, 2, 0.1, d.pad)
    settings = TrainSettings(max_steps=max_steps, **SETTINGS)
    return Trainer(model, loss, dataset, settings, out_dir, torch.device("cpu"), fingerprint, show_progress=False,
                   **options)
