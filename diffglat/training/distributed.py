"""Data-parallel training: one process per device, started by `torchrun`, joined here.

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; a plain `python` start is one process of one.
Processes talk over NCCL on GPUs and gloo on the CPU (which is how the tests run two of them).
Each step every process sums its gradients, its stats and its wish to stop into one flat tensor
and all-reduces it, so all processes apply the same update and stop at the same step.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world() -> tuple[int, int, int]:
    """(rank, local rank, world size) of this process, as torchrun set them; (0, 0, 1) without it."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def join(device: torch.device) -> None:
    """Join the process group of a multi-process start (NCCL for CUDA devices, else gloo)."""
    if world()[2] > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", device_id=device if device.type == "cuda" else None)


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def fewest(count: int, device: torch.device) -> int:
    """The smallest `count` over all processes."""
    if not dist.is_initialized():
        return count
    value = torch.tensor([count], dtype=torch.int64, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return int(value)


def any_process(flag: bool, device: torch.device) -> bool:
    """True if `flag` is true in some process (in one process: the flag)."""
    if not dist.is_initialized():
        return flag
    value = torch.tensor([int(flag)], dtype=torch.int64, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value)


def sum_step(parameters, stats: dict[str, float], stop: bool, device: torch.device) -> tuple[dict[str, float], bool]:
    """Sum gradients and stats over all processes, in place and in one all-reduce; True if any must stop.

    A parameter some process's step did not reach (DiffGLAT trains one sampled transition) takes
    part with a zero gradient, so every process reduces the same layout; one that no process
    reached gets its gradient back to None, so the optimizer skips it exactly as in one process.
    """
    parameters = [p for p in parameters if p.requires_grad]
    reached = torch.tensor([float(p.grad is not None) for p in parameters], device=device)
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
    keys = sorted(stats)
    extras = torch.tensor([stats[k] for k in keys] + [float(stop)], dtype=torch.float32, device=device)
    flat = torch.cat([g.reshape(-1).float() for g in grads] + [reached, extras])
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset: offset + g.numel()].view_as(g))
        offset += g.numel()
    reached_anywhere = flat[offset: offset + len(parameters)] > 0
    for p, g, anywhere in zip(parameters, grads, reached_anywhere.tolist()):
        p.grad = g if anywhere else None
    values = flat[offset + len(parameters):].tolist()
    return dict(zip(keys, values[:-1])), values[-1] > 0
