"""Tiny models and data shared by the tests."""

import numpy as np

from diffglat.data import synthetic as syn
from diffglat.models import build_model

TINY_MODEL = dict(encoder_layers=2, decoder_layers=2, d_model=32, heads=2, ffn_dim=64, dropout=0.1, positions="sinusoidal")
MAX_NUMBER = 10


def tiny_dataset(n=64, seq_len=6, seed=0):
    split = syn.generate(n, seq_len, MAX_NUMBER, np.random.default_rng(seed))
    dictionary = syn.dictionary(MAX_NUMBER)
    return syn.SyntheticDataset(split, dictionary, MAX_NUMBER), split, dictionary


def tiny_model(kind, dictionary, **overrides):
    return build_model(kind, {**TINY_MODEL, **overrides}, len(dictionary), dictionary.pad)
