"""Training throughput of each Table 3 model family in float32 and bf16 autocast, and its matmul floor.

For each family (the default config's experiments ar, ctc, glat, glat_ctc, dat, diffglat_1,
diffglat_3; DiffGLAT in its diffusion phase, the steps after the warm-up) one process trains on real
Multi30k batches of train.max_tokens target tokens (the prepared data of `diffglat prepare`), on one
thread, alternating float32 and bf16 steps so both see the same machine load; the figure is target
tokens over the median step time. The floor is the step's matmul FLOPs (torch's FLOP formulas, over
every op of one forward + backward) at this machine's GEMM rate in that precision (a [2048, 512] @ [512, 512]
matmul timed here): floor_ratio = floor time / step time, 1.0 meaning every cycle goes to matmuls.

    diffglat prepare --config config/config.yaml --benchmark multi30k_en_de
    python benchmarks/train_throughput.py [--families ar dat] [--steps 6]
    python benchmarks/train_throughput.py --config config/config.yaml config/gpu.yaml --flops-only

--flops-only counts one step's FLOPs and times nothing (sizes too big to time on a CPU, such as
config/gpu.yaml's).

Prints a line per family:
    <family> float32_tok_s=... bfloat16_tok_s=... speedup=... floor_ratio=<float32>/<bf16>

What each change to the training step bought, measured with this script (2-core AMD EPYC VM with
avx512_bf16 but no AMX: its GEMM rate is about 90 GFLOP/s in float32 and 210 in bf16, so bf16 can
gain at most about 2.3x here; the machine is shared, figures move by about 10%), AR and DAT target
tokens per second, float32 / bf16, each line one run of `--families ar dat --steps 4` on an
otherwise idle machine:
- before (commit 542cb08): AR 2405 / 2223, DAT 794 / 905. In bf16, SDPA's CPU backward took 41%
  of an AR step, the vocabulary log-softmax and its backward 15%.
- attention as two matmuls and a float32 softmax on the CPU (models/transformer.py `attend`), and
  the smoothed cross-entropy and its NLL from one log-softmax with a one-pass backward
  (losses/cross_entropy.py): AR 2584 / 4892, DAT 909 / 1485.
- glibc keeps freed memory (training/trainer.py `keep_freed_memory`: a fresh 100 MB log-softmax
  paid page faults on every step) and bf16 argmax as max (models/output.py `best_tokens`):
  AR 3045 / 5104, DAT 1174 / 1895.
- dropout masks from torch.rand instead of bernoulli_ (models/transformer.py `Dropout`):
  AR 3322 / 5233, DAT 1252 / 2069.
Every family after these changes (commit 04c23f2, one run of all families with 6 steps, two
training jobs running beside it for part of the time, hence the lower AR figure): ar 2777 / 4920 (1.77x), ctc 1367 /
2167 (1.59x), glat 2353 / 3537 (1.50x), glat_ctc 1189 / 1895 (1.59x), dat 1262 / 1934 (1.53x),
diffglat_1 876 / 1321 (1.51x), diffglat_3 553 / 731 (1.32x); floor ratios 0.4-0.6 in float32 and
0.25-0.45 in bf16. bf16 against the float32 the project trained in before: AR 2.0x, DAT 2.4x. Left
as they are: the float32 [tokens, vocabulary] passes of the losses (chunking them measured no
faster here), autocast's casts of activations (about 8% of a bf16 step).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from diffglat.cli.families import build_criterion, build_model
from diffglat.cli.translation import experiment_spec, sized_positions, training_data
from diffglat.config import load_config
from diffglat.data.batching import token_batches
from diffglat.training.precision import autocast
from diffglat.training.trainer import keep_freed_memory

FAMILIES = ("ar", "ctc", "glat", "glat_ctc", "dat", "diffglat_1", "diffglat_3")
PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}
WARMUP_STEPS = 3  # per precision, not timed


class MatmulFlops(TorchDispatchMode):
    """FLOPs of every op torch has a formula for (matmuls, attention, convolutions), as
    FlopCounterMode counts them, without its module tracker (which fails on the DAG models)."""

    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func.overloadpacket in flop_registry:
            self.flops += flop_registry[func.overloadpacket](*args, **kwargs, out_val=out)
        return out


def gemm_rate(dtype: torch.dtype, repeats: int = 20) -> float:
    """FLOP/s of a [2048, 512] @ [512, 512] matmul in dtype (best of repeats)."""
    a, b = torch.randn(2048, 512, dtype=dtype), torch.randn(512, 512, dtype=dtype)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * 2048 * 512 * 512 / best


def step(model, criterion, batch, dtype, step_number) -> None:
    model.train()
    model.zero_grad(set_to_none=True)
    with autocast(torch.device("cpu"), dtype):
        loss, _ = criterion(model.forward_batch(batch, criterion.layers, step_number), batch)
    loss.backward()


def setup(config: dict, experiment: str, steps: int):
    """The experiment's model, criterion, DiffGLAT step and steps + 1 + WARMUP_STEPS collated batches."""
    spec = experiment_spec(config, experiment, "translation")
    entry = config["benchmarks"]["multi30k_en_de"]
    spec["model_config"] = sized_positions(spec["model_config"], entry["max_length"])
    dataset, _ = training_data(config, "multi30k_en_de", spec)
    torch.manual_seed(0)
    model = build_model(spec["model"], spec["model_config"], len(dataset.dictionary), dataset.dictionary.pad)
    criterion = build_criterion(spec["model"], model, {"label_smoothing": 0.1, **spec["loss"]})
    step_number = spec["model_config"].get("diffusion_warmup", 0)  # DiffGLAT: the diffusion phase
    batches = token_batches(dataset.lengths, spec["train"]["max_tokens"], seed=1, epoch=0)[: steps + 1 + WARMUP_STEPS]
    collated = [dataset.collate(indices) for indices in batches]
    tokens = [float(dataset.lengths[indices].sum()) for indices in batches]
    return model, criterion, step_number, collated, tokens


def step_flops(model, criterion, batch, step_number) -> float:
    with MatmulFlops() as counter:
        step(model, criterion, batch, torch.float32, step_number)
    return counter.flops


def measure(config: dict, experiment: str, steps: int) -> dict:
    model, criterion, step_number, collated, tokens = setup(config, experiment, steps)
    first_tokens = tokens[0]
    flops = step_flops(model, criterion, collated[0], step_number)
    for batch in collated[1: 1 + WARMUP_STEPS]:  # until the allocator has the step's memory: steady state
        for dtype in PRECISIONS.values():
            step(model, criterion, batch, dtype, step_number)
    collated, tokens = collated[1 + WARMUP_STEPS:], tokens[1 + WARMUP_STEPS:]
    seconds = {name: [] for name in PRECISIONS}
    for batch in collated:
        for name, dtype in PRECISIONS.items():  # alternate: both see the same load
            torch.manual_seed(1)
            start = time.perf_counter()
            step(model, criterion, batch, dtype, step_number)
            seconds[name].append(time.perf_counter() - start)
    per_step = {name: statistics.median(s) for name, s in seconds.items()}
    mean_tokens = float(np.mean(tokens))
    return {"tok_s": {name: mean_tokens / s for name, s in per_step.items()}, "seconds": per_step,
            "flops": flops * mean_tokens / first_tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", nargs="+", default=["config/config.yaml"])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--steps", type=int, default=6, help="measured steps per precision")
    parser.add_argument("--flops-only", action="store_true", help="count one step's FLOPs, time nothing")
    args = parser.parse_args()
    torch.set_num_threads(1)
    keep_freed_memory()  # as training does
    config = load_config([Path(p) for p in args.config])
    if args.flops_only:
        for family in args.families:
            model, criterion, step_number, collated, tokens = setup(config, family, 0)
            print(f"{family} gflop_per_step={step_flops(model, criterion, collated[0], step_number) / 1e9:.1f} "
                  f"target_tokens={tokens[0]:.0f}", flush=True)
        return
    rates = {name: gemm_rate(dtype) for name, dtype in PRECISIONS.items()}
    print(f"GEMM [2048,512]@[512,512], one thread: float32 {rates['float32'] / 1e9:.0f} GFLOP/s, "
          f"bfloat16 {rates['bfloat16'] / 1e9:.0f} GFLOP/s; {args.steps} steps per precision, median")
    for family in args.families:
        r = measure(config, family, args.steps)
        floors = {name: r["flops"] / rates[name] / r["seconds"][name] for name in PRECISIONS}
        print(f"{family} float32_tok_s={r['tok_s']['float32']:.0f} bfloat16_tok_s={r['tok_s']['bfloat16']:.0f} "
              f"speedup={r['tok_s']['bfloat16'] / r['tok_s']['float32']:.2f} "
              f"floor_ratio={floors['float32']:.2f}/{floors['bfloat16']:.2f} gflop_per_step={r['flops'] / 1e9:.1f}",
              flush=True)


if __name__ == "__main__":
    main()
