"""Files the pipeline writes and reads back.

Writing is atomic (temp file, flush, fsync, rename): a reader never sees half a file and a crash
never destroys the old one. A write that fails (full disk, read-only folder) raises WriteFailed
naming the file, with the previous version left in place and no temp file behind.

Reading checks what it reads: a file that exists but cannot be parsed (truncated, overwritten,
a disk error) is moved aside to `<name>.corrupt` and reported as CorruptFile, one line naming it
and saying what happens next; the file is then missing, so rerunning the workflow rebuilds it
instead of failing on it again.

What one process writes at a time (a training run's folder) is held under an exclusive lock,
which the kernel drops when the holder dies, however it dies: a second process for the same
output (an orphan of a killed job wrapper, a user's second workflow) stops with Busy, naming the
holder, instead of interleaving its checkpoints with the first's.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Callable

CORRUPT_SUFFIX = ".corrupt"


class CorruptFile(Exception):
    """An artifact that exists but cannot be read; it has been moved aside."""


class WriteFailed(Exception):
    """An artifact could not be written; its previous version is unchanged."""


class Busy(Exception):
    """Another live process holds the lock on what this one would write, or it cannot be locked."""


@contextlib.contextmanager
def exclusive(lock: str | Path, what: str):
    """Run the block holding an exclusive flock on the file `lock` (created if missing; while held,
    its text says who holds it); Busy at once if another process holds it. Yields check_held(),
    which raises Busy once `lock` is no longer the file this process locked.

    The kernel drops the lock when its holder dies, however it dies; on NFS that needs working
    locks (not `nolock` or `local_lock=flock`), and a lost node's lock lasts until its lease ends."""
    lock = Path(lock)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(os.open(lock, os.O_RDWR | os.O_CREAT, 0o644), "r+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = f.read().strip() or "another process"
            raise Busy(f"{what} is in use by {holder} (it holds {lock}); wait for it to end or stop it, "
                       f"then rerun") from None
        except OSError as err:  # a file system without locks (some Lustre, CIFS, NFS mounts)
            raise Busy(f"cannot lock {lock} ({err.strerror or err}): {what} could be trained by two processes at "
                       f"once here; put paths.results on a file system with locks") from None
        held = os.fstat(f.fileno()).st_ino

        def check_held() -> None:
            """Busy if `lock` is no longer the file this process locked (its folder deleted or moved
            away, and maybe made anew by another process): writing on would mix two runs."""
            try:
                same = os.stat(lock).st_ino == held
            except FileNotFoundError:
                same = False
            if not same:
                raise Busy(f"{lock} was removed or replaced while this process held it: stopping {what} "
                           f"rather than writing into a folder another process may own")

        check_held()
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        f.flush()
        try:
            yield check_held
        finally:
            f.seek(0)
            f.truncate()  # held by nobody: no stale "pid ... since" for the next reader


def set_aside(path: str | Path) -> Path:
    """Rename `path` to `<path>.corrupt` (replacing an older one) and return the new name."""
    path = Path(path)
    aside = path.with_name(path.name + CORRUPT_SUFFIX)
    try:
        path.replace(aside)
    except FileNotFoundError:  # another process (rank) of the same run moved it first
        pass
    return aside


REBUILD = "rerun the workflow to rebuild it"
# Failures to open a file that say nothing about its content.
NOT_CORRUPTION = (FileNotFoundError, PermissionError, IsADirectoryError)


def corrupt(path: str | Path, reason: str, then: str = REBUILD, also: tuple[Path, ...] = ()) -> CorruptFile:
    """Move `path` (and the files `also`, e.g. a folder's completion marker) aside and return the
    CorruptFile that says so (raise it)."""
    for other in also:
        if other.is_file():
            set_aside(other)
    aside = set_aside(path)
    return CorruptFile(f"{path} is corrupt ({reason}); moved it to {aside.name}: {then}")


@contextlib.contextmanager
def parsing(path: str | Path, errors: tuple[type[BaseException], ...], then: str = REBUILD,
            also: tuple[Path, ...] = ()):
    """Inside it, one of `errors` raised while reading `path` means the file is corrupt (see corrupt);
    a missing or forbidden file raises as it is."""
    try:
        yield
    except NOT_CORRUPTION:
        raise
    except errors as err:
        text = str(err).strip().splitlines()
        raise corrupt(path, f"{type(err).__name__}: {text[0]}" if text else type(err).__name__, then, also) from None


def check_keys(path: str | Path, data, required: tuple[str, ...], then: str = REBUILD):
    """`data` read from `path`, if it is a dict with the keys `required`; else CorruptFile."""
    missing = [key for key in required if key not in data] if isinstance(data, dict) else ["(a dict)"]
    if missing:
        raise corrupt(path, f"no {', '.join(missing)}", then)
    return data


def atomic_write(path: str | Path, write: Callable) -> None:
    """write(binary file) into a temp file beside `path`, then rename it over `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException as err:  # a failed or interrupted write leaves no temp file behind
        with contextlib.suppress(OSError):
            tmp.unlink()
        if not isinstance(err, OSError):
            raise
        kept = "its previous version is unchanged" if path.exists() else "nothing was written"
        raise WriteFailed(f"cannot write {path}: {err.strerror or err} ({kept})") from err


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path, required: tuple[str, ...] = (), missing_ok: bool = False) -> dict | None:
    """A JSON object the pipeline wrote, with the keys `required`; else CorruptFile (file moved aside).
    missing_ok: None for a file the run has not written (yet)."""
    path = Path(path)
    if missing_ok and not path.is_file():
        return None
    with parsing(path, (json.JSONDecodeError, UnicodeDecodeError)):
        data = json.loads(path.read_text(encoding="utf-8"))
    return check_keys(path, data, required)
