"""Reading parallel corpora, gzipped or plain: two text files with one sentence per line (line i of
one side translating line i of the other), or one JSON file of records with a field per side (a JSON
list, or JSON Lines: one record per line). Every problem is reported with the file (and line or
record) it comes from.
"""

from __future__ import annotations

import gzip
import json
import re
from itertools import zip_longest
from pathlib import Path
from typing import Iterator

LINE_BREAKS = re.compile(r"[\r\n]+")  # what read_lines splits on; other separators stay in the sentence


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


def read_json_pairs(path: str | Path, source_field: str, target_field: str) -> Iterator[tuple[str, str]]:
    """(source, target) of each record of a JSON list (*.json[.gz]) or JSON Lines file (*.jsonl[.gz]).

    A line break inside a field becomes a space: every later stage keeps one sentence per line."""
    path = Path(path)
    if path.name.removesuffix(".gz").endswith(".jsonl"):
        records = ((f"{path}:{number}", _parse(line, f"{path}:{number}"))
                   for number, line in enumerate(read_lines(path), start=1) if line.strip())
    else:
        loaded = _parse("\n".join(read_lines(path)), str(path))
        if not isinstance(loaded, list):
            raise ValueError(f"{path}: a JSON corpus must be a list of records, got {type(loaded).__name__}")
        records = ((f"{path}: record {i}", record) for i, record in enumerate(loaded))
    for where, record in records:
        sides = []
        for field in (source_field, target_field):
            value = record.get(field) if isinstance(record, dict) else None
            if not isinstance(value, str):
                raise ValueError(f"{where}: no text field {field!r} (the record is {str(record)[:80]})")
            sides.append(LINE_BREAKS.sub(" ", value))
        yield sides[0], sides[1]


def _parse(text: str, where: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where}: not valid JSON ({err})") from None
