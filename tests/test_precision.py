"""compute.precision: which dtype `auto` picks, and bf16 autocast training that follows float32."""

import numpy as np
import pytest
import torch

from diffglat.cli.families import build_criterion, generate
from diffglat.training.precision import autocast, cpu_flags, resolve_precision

from diffglat.data import synthetic as syn
from helpers import MAX_NUMBER, tiny_dataset, tiny_model

CPU = torch.device("cpu")
SAPPHIRE_RAPIDS = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
NO_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n"


def test_auto_picks_bf16_only_where_the_cpu_has_bf16_matrix_instructions():
    assert resolve_precision("auto", CPU, cpu_flags(SAPPHIRE_RAPIDS)) == torch.bfloat16
    assert resolve_precision("auto", CPU, cpu_flags(NO_BF16)) == torch.float32
    assert resolve_precision("auto", CPU, cpu_flags("")) == torch.float32  # no /proc/cpuinfo: play safe
    assert resolve_precision("auto", CPU, {"avx512_bf16"}) == torch.bfloat16
    assert resolve_precision("float32", CPU, {"amx_bf16"}) == torch.float32
    assert resolve_precision("bfloat16", CPU, set()) == torch.bfloat16
    with pytest.raises(ValueError, match="compute.precision 'fp16'"):
        resolve_precision("fp16", CPU, set())


def one_modality_dataset(n=256, seq_len=6, seed=0):
    """The synthetic task with every target in modality I: one right answer per source, so that two
    well-trained models can agree on it (with four, which one a model picks is chaotic)."""
    _, split, d = tiny_dataset(n, seq_len=seq_len, seed=seed)
    modality = np.zeros_like(split.modality)
    one = syn.SyntheticSplit(split.source, modality, syn.apply_modality(split.source, modality, MAX_NUMBER))
    return syn.SyntheticDataset(one, d, MAX_NUMBER), d


def train_curve(kind, dtype, steps, settings):
    """Adam on the one-modality task, the same batches and seed for both precisions -> (losses, model, data)."""
    torch.manual_seed(0)
    dataset, d = one_modality_dataset()
    model = tiny_model(kind, d, dropout=0.0, **settings)
    criterion = build_criterion(kind, model, {"label_smoothing": 0.0})
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    rng = np.random.default_rng(0)
    losses = []
    for step in range(steps):
        batch = dataset.collate(rng.choice(256, 64, replace=False))
        model.train()
        with autocast(CPU, dtype):
            loss, _ = criterion(model.forward_batch(batch, criterion.layers, step), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return np.array(losses), model, dataset


@pytest.mark.parametrize("kind, settings", [("ar", {}), ("glat_dat", {"upsample": 3, "glance_steps": 100, "glance_start": 0.5, "glance_end": 0.1})])
def test_bf16_training_follows_float32(kind, settings):
    """Over 200 steps the bf16 loss curve stays within 0.05 nats (mean of every 25-step window) of the
    float32 one, and on 128 unseen sources both models decode the same hypotheses for at least 90%.
    Measured: 0.003 (AR) and 0.002 (DAT) nats, the same hypotheses everywhere; the curves fall
    from about 3.4 to 0.02 (DAT in float32 from another initialisation: 0.5 nats away on the
    four-modality task). At lr 3e-3 the float32 AR curve has a transient plateau near 0.35 nats
    for 50 steps that the bf16 one skips (0.33 apart there, equal before and after): chaos at a
    sharp drop, not a bias of either precision."""
    f32, model32, _ = train_curve(kind, torch.float32, 200, settings)
    b16, model16, _ = train_curve(kind, torch.bfloat16, 200, settings)
    assert f32[-25:].mean() < 0.1 * f32[:25].mean()  # it learned
    def windows(x):
        return x.reshape(-1, 25).mean(1)
    assert np.abs(windows(f32) - windows(b16)).max() < 0.05, (windows(f32), windows(b16))
    unseen, d = one_modality_dataset(128, seed=1)
    src = unseen.collate(np.arange(128))["src"]
    decode = {"beam": 1, "algorithm": "joint_viterbi", "beta": 1.0, "length_beam": 1, "max_len_a": 1.5, "max_len_b": 10}
    hypotheses = [[[t for t in row if t != d.pad] for row in generate(kind, m.eval(), src, decode).tolist()]
                  for m in (model32, model16)]
    same = np.mean([a == b for a, b in zip(*hypotheses)])
    assert same >= 0.9, same
