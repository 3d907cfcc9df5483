"""Training precision (`compute.precision`): float32, or bfloat16 autocast where the device has the
matrix units for it.

`auto` picks bfloat16 on CUDA and on CPUs with native bf16 matrix instructions (AMX-BF16 or
AVX512-BF16: there a one-thread bf16 GEMM runs about 6x faster than float32), float32 elsewhere
(without them CPU bf16 matmuls are emulated and slower than float32). Under bf16 autocast the
matmuls run in bf16; what is numerically sensitive stays float32 in the model and loss code itself
(the DAG links and loss, CTC, the vocabulary log-softmax and the losses).
"""

from __future__ import annotations

from pathlib import Path

import torch

PRECISIONS = ("auto", "float32", "bfloat16")
BF16_MATRIX_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of native bf16 matrix instructions


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags, from /proc/cpuinfo (or the given text); empty where there is none."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.is_file() else ""
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def resolve_precision(setting: str, device: torch.device, flags: set[str] | None = None) -> torch.dtype:
    """compute.precision -> the autocast dtype of training (torch.float32: no autocast)."""
    if setting not in PRECISIONS:
        raise ValueError(f"compute.precision {setting!r} is not one of {PRECISIONS}")
    if setting != "auto":
        return torch.bfloat16 if setting == "bfloat16" else torch.float32
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    flags = cpu_flags() if flags is None else flags
    return torch.bfloat16 if any(flag in flags for flag in BF16_MATRIX_FLAGS) else torch.float32


def precision_name(dtype: torch.dtype) -> str:
    """torch.bfloat16 -> 'bfloat16': how fingerprints and training records name it."""
    return str(dtype).removeprefix("torch.")


def autocast(device: torch.device, dtype: torch.dtype):
    """The training forward's context: bf16 autocast on the device, or nothing for float32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)
