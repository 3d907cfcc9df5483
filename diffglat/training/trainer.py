"""The training loop: token batches + model + loss -> checkpoints, resumable after any kill.

State that a resumed run restores: model, optimizer, LR schedule, RNG states, the data position
(epoch and batch within it), the step counter and the wall time spent so far. `last.pt` is
rewritten atomically every `checkpoint_every` steps and at the end, so a SIGKILL at any moment
leaves either the previous or the new checkpoint, never half of one.

Preemption: SIGTERM (what SLURM sends at a time limit or preemption) or SIGUSR1 make the loop
finish its step, write `last.pt` and raise Preempted; rerunning the same command resumes.

Validation (optional): every `validate_every` steps a `validator(model) -> score` (e.g. BLEU
on the validation set) runs on rank 0; the model weights of the `keep_best` best-scoring steps
are kept as `checkpoints/best/step<N>.pt` for checkpoint averaging, and every score is written
to `valid_log.csv`. With a `plateau` (Plateau below), training stops early once validation
BLEU has stopped climbing; `plateau_step` records where (None: it ran to max_steps).

Data parallelism (see distributed.py): every process trains on its own shard of each epoch's
batches; an update sums `update_freq` micro-batches over all processes together, so the batch
per update is the same on one device or many.
"""

from __future__ import annotations

import csv
import ctypes
import io
import math
import random
import signal
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from ..data.batching import token_batches
from ..io import Busy, CorruptFile, atomic_write_text, exclusive
from . import distributed
from .checkpoint import PREVIOUS, load_checkpoint, save_atomic, save_verified
from .precision import autocast

LOG_COLUMNS = ["step", "loss", "lr", "tokens_per_s", "elapsed_s"]
# Loss stats named "window/<name>/sum" and "window/<name>/n" are averaged over each log window and
# written as (step, name, value) rows to train_stats.csv (e.g. DiffGLAT's per-transition differ_t<k>).
STATS_COLUMNS = ["step", "name", "value"]
# Settings that may change between a checkpoint and its resumption without invalidating it.
RESUMABLE_CHANGES = ("max_steps", "checkpoint_every", "log_every")
VALID_COLUMNS = ["step", "score", "seconds"]
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
# Held by the process that trains the run (io.exclusive): a second one stops instead of racing it.
LOCK = ".train.lock"
# What a resumable checkpoint must hold (Trainer.state).
STATE_KEYS = ("model", "optimizer", "scheduler", "rng", "step", "epoch", "batch_in_epoch", "elapsed", "fingerprint")


@dataclass
class TrainSettings:
    max_steps: int
    max_tokens: int
    lr: float
    warmup_steps: int
    clip_norm: float
    weight_decay: float
    label_smoothing: float
    checkpoint_every: int
    log_every: int
    seed: int
    # Micro-batches (of max_tokens each) per optimizer update, over all processes together.
    update_freq: int = 1


@dataclass(frozen=True)
class Plateau:
    """When validation BLEU has stopped climbing: the last `patience` validations beat none of the
    earlier ones by `min_gain` or more (translation.validate.plateau)."""
    patience: int
    min_gain: float
    min_steps: int = 0  # no stop before this step (e.g. the end of a warm-up or a glancing anneal)

    def reached(self, scores: list[float], step: int | None = None) -> bool:
        if len(scores) <= self.patience or (step is not None and step < self.min_steps):
            return False
        return max(scores[-self.patience:]) < max(scores[: -self.patience]) + self.min_gain


class Preempted(Exception):
    """Training stopped on a signal after writing its checkpoint; rerun to resume."""


def complete_row(row: dict, columns: list[str]) -> bool:
    """A csv.DictReader row with every column filled and an integer step."""
    return all(row.get(c) not in (None, "") for c in columns) and row["step"].isdigit()


def inverse_sqrt(warmup_steps: int) -> Callable[[int], float]:
    """LR multiplier: linear warm-up to 1 over warmup_steps, then warmup_steps^0.5 * step^-0.5."""
    def factor(step: int) -> float:
        step = max(step, 1)
        return min(step / warmup_steps, math.sqrt(warmup_steps / step))
    return factor


def select_device(preference: str, cpu_threads: int) -> torch.device:
    """CUDA when asked for or (with 'auto') when present, else the CPU with cpu_threads threads.

    Under torchrun each process takes the GPU of its local rank.
    """
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("compute.device is 'cuda' but no CUDA device is visible")
    if preference in ("auto", "cuda") and torch.cuda.is_available():
        device = torch.device("cuda", distributed.world()[1])
        torch.cuda.set_device(device)
        return device
    torch.set_num_threads(cpu_threads)
    keep_freed_memory()
    return torch.device("cpu")


def keep_freed_memory() -> None:
    """Have glibc's malloc keep freed memory for reuse instead of handing it back to the kernel.

    A training step allocates and frees tensors of tens of MB ([tokens, vocabulary] logits); by
    default glibc maps each from the kernel and unmaps it on free, so every step pays page faults
    on fresh zeroed pages. Measured (one thread, a fresh [146, 28, 6000] float32 log_softmax):
    64 ms by default, 24 ms with these limits. The process keeps its peak memory. Not glibc: no-op.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt(M_MMAP_THRESHOLD, 1 << 30)  # allocations below 1 GiB come from the heap
    libc.mallopt(M_TRIM_THRESHOLD, (1 << 31) - 1)  # and the heap is not trimmed below 2 GiB free


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """Train `model` on a dataset exposing `lengths` (tokens per example) and `collate(indices)`.

    `fingerprint` identifies everything that shapes the run (data, model, settings other than
    RESUMABLE_CHANGES, the number of processes); a checkpoint with another fingerprint is set
    aside, not resumed. In a data-parallel run only rank 0 writes the checkpoint and the log.

    `branch_from` names another run's last.pt: without a checkpoint of its own, the run starts
    from that state (weights, optimizer, schedule, RNG, data position, step) as if it had trained
    those steps itself, so experiments that share their first steps (a warm-up) train them once.
    `elapsed` then includes the shared steps; `branched_seconds` says how much of it they took.
    """

    def __init__(self, model, loss_fn, dataset, settings: TrainSettings, out_dir: str | Path,
                 device: torch.device, fingerprint: str, show_progress: bool = True,
                 validator: Callable | None = None, validate_every: int = 0, keep_best: int = 1,
                 branch_from: str | Path | None = None, precision: torch.dtype = torch.float32,
                 plateau: Plateau | None = None):
        self.model, self.loss_fn, self.dataset, self.settings = model.to(device), loss_fn, dataset, settings
        self.device, self.fingerprint, self.precision = device, fingerprint, precision
        self.out_dir = Path(out_dir)
        self.checkpoint_path = self.out_dir / "checkpoints" / "last.pt"
        self.log_path = self.out_dir / "train_log.csv"
        self.stats_path = self.out_dir / "train_stats.csv"
        self.show_progress = show_progress
        self.optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, betas=(0.9, 0.98), eps=1e-8,
                                          weight_decay=settings.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, inverse_sqrt(settings.warmup_steps))
        self.step, self.epoch, self.batch_in_epoch, self.elapsed = 0, 0, 0, 0.0
        self.last_stats: dict = {}
        # sums of the current log window's "window/..." stats: checkpointed, so that a run stopped
        # mid-window (SIGTERM) logs the same window averages once resumed
        self.window_stats: dict[str, float] = {}
        self.validator, self.validate_every, self.keep_best = validator, validate_every, keep_best
        self.validations: list[dict] = []  # {"step", "score", "seconds"} of every validation so far
        self.plateau = plateau
        self.plateau_step: int | None = None  # the step at which validation BLEU stopped climbing
        self.branch_from = branch_from
        self.branched_seconds = 0.0  # of `elapsed`, the time spent in the run this one branched off
        self.rank, self.world_size = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
        if settings.update_freq % self.world_size:
            raise ValueError(f"train.update_freq ({settings.update_freq}) must be a multiple of the number of "
                             f"training processes ({self.world_size})")
        self.micro_batches = settings.update_freq // self.world_size  # per process and update
        self.check_lock: Callable[[], None] = lambda: None  # while training (rank 0): Busy once the run's lock is gone
        self.signalled = False  # this process received a stop signal
        self.stopping = False   # some process did, as all processes agreed after the last step

    # ---- checkpoints -------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "elapsed": self.elapsed, "fingerprint": self.fingerprint, "last_stats": self.last_stats,
            "validations": self.validations, "branched_seconds": self.branched_seconds,
            "plateau_step": self.plateau_step, "window_stats": self.window_stats,
        }

    def save(self) -> None:
        if self.rank == 0:
            self.check_lock()  # the folder is still this run's
            save_verified(self.state(), self.checkpoint_path, STATE_KEYS)

    def resume(self) -> bool:
        """Restore the newest good checkpoint if it is this run's (last.pt, else previous.pt), else
        branch off `branch_from` if given (see __init__); say what happened."""
        for path in (self.checkpoint_path, self.checkpoint_path.with_name(PREVIOUS)):
            state = self.read_state(path)
            if state is None:
                continue
            if state["fingerprint"] != self.fingerprint:
                self.set_run_aside(f"{state['fingerprint']}.stale")
                self.say(f"checkpoint {path} was written for a different config; moved it aside "
                         f"(*.{state['fingerprint']}.stale*) and starting from scratch")
                break
            self.validations = state.get("validations", [])
            unreadable = self.unreadable_best()
            if unreadable:  # the final model averages them: without them the run cannot finish as it began
                self.validations = []
                self.set_run_aside(f"step{state['step']}.incomplete")
                self.say(f"{unreadable}; the run's best checkpoints are incomplete, so it starts again from scratch "
                         f"(its checkpoints moved aside as *.step{state['step']}.incomplete*)")
                break
            self.restore(state)
            # stopped at a plateau stays stopped only if the current rule agrees (it is not
            # part of the fingerprint: changing it resumes the run)
            scores = [v["score"] for v in self.validations]
            stopped = state.get("plateau_step") is not None and self.plateau is not None
            self.plateau_step = state["plateau_step"] if stopped and self.plateau.reached(scores, self.step) else None
            self.say(f"resuming from checkpoint {path} at step {self.step}")
            return True
        if self.branch_from is None:
            return False
        parent = Path(self.branch_from)
        state = self.read_state(parent) or self.read_state(parent.with_name(PREVIOUS))
        if state is None:
            raise FileNotFoundError(f"{parent}: the run this one branches off has no readable checkpoint; "
                                    f"delete its model.pt and rerun the workflow to retrain it")
        self.restore(state)
        self.branched_seconds = state["elapsed"]
        self.say(f"branching off {self.branch_from} at step {self.step}")
        return True

    def say(self, message: str) -> None:
        if self.rank == 0:
            print(message, file=sys.stderr)

    def read_state(self, path: Path) -> dict | None:
        """A checkpoint's state, or None if there is none or it is corrupt (then moved aside, and said)."""
        if not path.is_file():
            return None
        try:
            return load_checkpoint(path, STATE_KEYS, then="trying the checkpoint before it")
        except CorruptFile as err:
            self.say(str(err))
            return None

    def unreadable_best(self) -> str | None:
        """What is wrong with the best checkpoints the restored validations name, if anything."""
        for path in self.best_checkpoints():
            if not path.is_file():
                return f"{path} is missing"
            try:
                load_checkpoint(path, then="it cannot be recomputed")
            except CorruptFile as err:
                return str(err)
        return None

    def set_run_aside(self, tag: str) -> None:
        """Move this run's checkpoints (last, previous, best) aside as <name>.<tag>: they must not be
        resumed or averaged into the model, but are kept for inspection."""
        if self.rank != 0:
            return
        for path in (self.checkpoint_path, self.checkpoint_path.with_name(PREVIOUS)):
            if path.is_file():
                path.replace(path.with_name(f"{path.stem}.{tag}{path.suffix}"))
        if self.best_dir.is_dir():
            self.best_dir.replace(self.best_dir.with_name(f"best.{tag}"))

    def restore(self, state: dict) -> None:
        """Model, optimizer, schedule, RNG states and data position of a checkpoint."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        if state["rng"]["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.elapsed, self.last_stats = state["elapsed"], state["last_stats"]
        self.window_stats = dict(state.get("window_stats", {}))
        self.branched_seconds = state.get("branched_seconds", 0.0)

    def _truncate_log(self, path: Path, columns: list[str]) -> None:
        """Keep the log rows up to the current step (a row cut short by a kill goes too)."""
        if not path.is_file():
            return
        with path.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if complete_row(r, columns) and int(r["step"]) <= self.step]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, buffer.getvalue())

    # ---- validation and the best checkpoints --------------------------------------------------
    @property
    def best_dir(self) -> Path:
        return self.out_dir / "checkpoints" / "best"

    def best_steps(self) -> list[int]:
        """Steps of the keep_best highest validation scores (the later step wins a tie)."""
        ranked = sorted(self.validations, key=lambda v: (v["score"], v["step"]), reverse=True)
        return [v["step"] for v in ranked[: self.keep_best]]

    def validate(self) -> None:
        """Score the model (rank 0), keep its weights if among the best, drop the ones that fell out."""
        if self.rank != 0:
            return
        start = time.perf_counter()
        self.model.eval()
        with torch.no_grad():
            score = float(self.validator(self.model))
        self.model.train()
        self.validations.append({"step": self.step, "score": score, "seconds": time.perf_counter() - start})
        best = self.best_steps()
        if self.step in best:
            save_atomic({k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                        self.best_dir / f"step{self.step}.pt")
        for path in self.best_dir.glob("step*.pt"):
            if int(path.stem[4:]) not in best:
                path.unlink()
        rows = "".join(f"{v['step']},{v['score']:.4f},{v['seconds']:.1f}\n" for v in self.validations)
        atomic_write_text(self.out_dir / "valid_log.csv", ",".join(VALID_COLUMNS) + "\n" + rows)

    def best_checkpoints(self) -> list[Path]:
        """The kept weights, best first."""
        return [self.best_dir / f"step{step}.pt" for step in self.best_steps()]

    # ---- the loop ----------------------------------------------------------------------------
    def epoch_batches(self) -> list[np.ndarray]:
        """This process's batches of the current epoch, cut so that every process makes the same
        number of whole updates (the few batches left over differ from epoch to epoch)."""
        batches = token_batches(self.dataset.lengths, self.settings.max_tokens, self.settings.seed, self.epoch,
                                rank=self.rank, world_size=self.world_size)
        usable = distributed.fewest(len(batches), self.device) // self.micro_batches * self.micro_batches
        if usable == 0:
            raise ValueError(f"an epoch has fewer than train.update_freq ({self.settings.update_freq}) batches "
                             f"of train.max_tokens ({self.settings.max_tokens}) tokens")
        return batches[:usable]

    def epochs_trained(self) -> float:
        """Passes over the training data so far: whole epochs plus the share of the current one (call it
        after training: with several processes, epoch_batches is a collective)."""
        return self.epoch + self.batch_in_epoch / len(self.epoch_batches())

    def train_step(self, micro_batches: list[np.ndarray]) -> dict:
        """One update from this process's micro-batches (arrays of example indices).

        Each micro-batch loss is divided by update_freq and gradients are summed over all
        processes, so the update follows the mean loss of all update_freq micro-batches.
        """
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        stats = {"tokens": 0.0}
        for indices in micro_batches:
            batch = {k: v.to(self.device) for k, v in self.dataset.collate(indices).items()}
            with autocast(self.device, self.precision):
                output = self.model.forward_batch(batch, self.loss_fn.layers, self.step)
                loss, batch_stats = self.loss_fn(output, batch)
            (loss / self.settings.update_freq).backward()
            for key, value in batch_stats.items():
                stats[key] = stats.get(key, 0.0) + value / self.settings.update_freq
            stats["tokens"] += float(self.dataset.lengths[indices].sum())
        self.stopping = self.signalled
        if self.world_size > 1:
            stats, self.stopping = distributed.sum_step(self.model.parameters(), stats, self.signalled, self.device)
        if self.settings.clip_norm > 0:
            stats["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.clip_norm))
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        self.batch_in_epoch += len(micro_batches)
        return stats

    def lock_run(self, stack: ExitStack) -> None:
        """Rank 0 takes the run's lock (held while the stack is open); every rank raises Busy if it
        could not. The lock covers the steps and their checkpoints; averaging them into model.pt
        afterwards only reads finished checkpoints and writes atomically."""
        busy = None
        if self.rank == 0:
            try:
                self.check_lock = stack.enter_context(exclusive(self.out_dir / LOCK, f"training run {self.out_dir}"))
                stack.callback(setattr, self, "check_lock", lambda: None)
            except Busy as err:
                busy = err
        if distributed.any_process(busy is not None, self.device):
            raise busy or Busy(f"training run {self.out_dir}: its first process could not lock it (see its log)")

    def request_stop(self, signum, frame) -> None:
        """Signal handler: finish the current step, then checkpoint and stop."""
        self.signalled = True

    def train(self) -> dict:
        """Run until max_steps or the validation plateau; returns the stats of the last step. Raises Preempted after a
        SIGTERM or SIGUSR1, once the checkpoint of the last finished step is written."""
        previous_handlers = {sig: signal.signal(sig, self.request_stop) for sig in STOP_SIGNALS}
        try:
            with ExitStack() as lock:
                self.lock_run(lock)
                return self._train()
        finally:
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)

    def _train(self) -> dict:
        if self.step == 0:
            self.resume()
        writer = self.rank == 0
        if writer:  # each step once: rows a killed run wrote after its checkpoint go (all of them on a fresh start)
            self._truncate_log(self.log_path, LOG_COLUMNS)
            self._truncate_log(self.stats_path, STATS_COLUMNS)
            self.out_dir.mkdir(parents=True, exist_ok=True)
            new_log = not self.log_path.is_file()
            log_file = self.log_path.open("a", newline="")
            log = csv.DictWriter(log_file, LOG_COLUMNS)
            if new_log:
                log.writeheader()
            new_stats = not self.stats_path.is_file()
            stats_file = self.stats_path.open("a", newline="")
            stats_log = csv.DictWriter(stats_file, STATS_COLUMNS)
            if new_stats:
                stats_log.writeheader()
        progress = tqdm(total=self.settings.max_steps, initial=self.step, disable=not (self.show_progress and writer),
                        mininterval=1.0 if sys.stderr.isatty() else 30.0, desc=str(self.out_dir.name), file=sys.stderr)
        window_tokens, window_start, last_tick = 0.0, time.perf_counter(), time.perf_counter()
        try:
            while self.step < self.settings.max_steps and not self.stopping and self.plateau_step is None:
                batches = self.epoch_batches()
                while self.batch_in_epoch < len(batches) and self.step < self.settings.max_steps:
                    self.last_stats = self.train_step(batches[self.batch_in_epoch: self.batch_in_epoch + self.micro_batches])
                    window_tokens += self.last_stats.pop("tokens")
                    for key in [k for k in self.last_stats if k.startswith("window/")]:
                        self.window_stats[key] = self.window_stats.get(key, 0.0) + self.last_stats.pop(key)
                    now = time.perf_counter()
                    self.elapsed += now - last_tick
                    last_tick = now
                    progress.update(1)
                    if writer and (self.step % self.settings.log_every == 0 or self.step == self.settings.max_steps):
                        log.writerow({"step": self.step, "loss": f"{self.last_stats['loss']:.5f}",
                                      "lr": f"{self.scheduler.get_last_lr()[0]:.3e}",
                                      "tokens_per_s": f"{window_tokens / max(now - window_start, 1e-9):.1f}",
                                      "elapsed_s": f"{self.elapsed:.1f}"})
                        log_file.flush()
                        for key in sorted(k for k in self.window_stats if k.endswith("/sum")):
                            name, count = key[len("window/"): -len("/sum")], self.window_stats[key[: -len("sum")] + "n"]
                            stats_log.writerow({"step": self.step, "name": name, "value": f"{self.window_stats[key] / count:.5f}"})
                        stats_file.flush()
                        self.window_stats = {}
                        progress.set_postfix(loss=f"{self.last_stats['loss']:.3f}")
                        window_tokens, window_start = 0.0, now
                    if self.validator is not None and (self.step % self.validate_every == 0
                                                       or self.step == self.settings.max_steps):
                        self.validate()
                        if self.plateau is not None and distributed.any_process(
                                self.rank == 0 and self.plateau.reached([v["score"] for v in self.validations], self.step),
                                self.device):
                            self.plateau_step = self.step
                    if self.stopping or self.plateau_step is not None:
                        break
                    if self.step % self.settings.checkpoint_every == 0:
                        self.save()
                if self.batch_in_epoch >= len(batches):
                    self.epoch, self.batch_in_epoch = self.epoch + 1, 0
            self.save()
        finally:
            progress.close()
            if writer:
                log_file.close()
                stats_file.close()
        if self.step < self.settings.max_steps and self.plateau_step is None:
            raise Preempted(f"stopped by a signal at step {self.step}; checkpoint {self.checkpoint_path} written, "
                            f"rerun to resume")
        return self.last_stats
