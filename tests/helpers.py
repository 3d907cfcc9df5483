"""Tiny models and data shared by the tests."""

import numpy as np
import torch

from diffglat.data import synthetic as syn
from diffglat.cli.families import build_model

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
