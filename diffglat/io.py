"""Files the pipeline writes and reads back.

Writing is atomic (temp file, flush, fsync, rename): a reader never sees half a file and a crash
never destroys the old one. A write that fails (full disk, read-only folder) raises WriteFailed
naming the file, with the previous version left in place and no temp file behind.

Reading checks what it reads: a file that exists but cannot be parsed (truncated, overwritten,
a disk error) is moved aside to `<name>.corrupt` and reported as CorruptFile, one line naming it
and saying what happens next; the file is then missing, so rerunning the workflow rebuilds it
instead of failing on it again.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Callable

CORRUPT_SUFFIX = ".corrupt"


class CorruptFile(Exception):
    """An artifact that exists but cannot be read; it has been moved aside."""


class WriteFailed(Exception):
    """An artifact could not be written; its previous version is unchanged."""


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
