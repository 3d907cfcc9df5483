"""Reading parallel corpora: one sentence per line, gzipped or plain, line i of one side translating
line i of the other. Every problem is reported with the file (and line) it comes from.
"""

from __future__ import annotations

import gzip
from itertools import zip_longest
from pathlib import Path
from typing import Iterator


def read_lines(path: str | Path) -> Iterator[str]:
    """The lines of a UTF-8 file (gunzipped when the name ends in .gz), without their line break.

    Lines are split on "\\n" only, so a sentence holding U+2028 or a form feed stays one line.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                try:
                    yield raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as err:
                    raise ValueError(f"{path}:{number}: not valid UTF-8 (byte {err.start}: {err.reason})") from None
    except (OSError, EOFError) as err:
        raise ValueError(f"{path}: cannot be read: {err}") from None


def read_parallel(source: str | Path, target: str | Path) -> Iterator[tuple[str, str]]:
    """(source line, target line) pairs; files of different lengths raise, naming both counts."""
    source_lines, target_lines = read_lines(source), read_lines(target)
    count = 0
    for source_line, target_line in zip_longest(source_lines, target_lines):
        if source_line is None or target_line is None:
            # One file ended; the other just gave one more line than `count`: count the rest of it.
            longer = source_lines if target_line is None else target_lines
            rest = count + 1 + sum(1 for _ in longer)
            source_count, target_count = (rest, count) if target_line is None else (count, rest)
            raise ValueError(f"line counts differ: {source} has {source_count} lines, {target} has {target_count}")
        count += 1
        yield source_line, target_line
