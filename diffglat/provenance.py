"""Where a result came from: code version, libraries, hardware. Stored in every result file."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

LIBRARIES = ("torch", "numpy", "snakemake", "sacrebleu", "sentencepiece", "sacremoses", "jieba", "matplotlib")


def git_commit() -> str:
    """HEAD of the checkout this package runs from, with '-dirty' when tracked files changed."""
    root = Path(__file__).resolve().parent.parent
    try:
        def run(*args):
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        commit = run("rev-parse", "--short=12", "HEAD")
        return commit + ("-dirty" if run("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else the machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: str) -> str:
    text = f"{os.cpu_count()} CPU cores ({cpu_model()}, {platform.machine()}), {platform.system()} {platform.release()}"
    if device == "cuda":
        import torch

        text += f"; GPU: {torch.cuda.get_device_name(0)}"
    return text


def provenance(device: str = "cpu") -> dict:
    return {"git_commit": git_commit(), "libraries": library_versions(), "hardware": hardware(device),
            "command": " ".join(sys.argv)}
