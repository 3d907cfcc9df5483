"""The figures the README (and config/README.md) quote, rendered from the records of the runs they
came from.

A record is a run's `reports/<scale>/summary.json` (written by `diffglat report`) or a benchmark's
JSON output, kept in docs/runs/<name>.json with the commit and machine it was measured on. A
document marks each quoted figure with the record and the figure's name, and each generated table
with its record:

    the AR reaches <!--run default multi30k_en_de.ar.main.bleu-->32.0<!--/run--> test BLEU
    <!--table decode_latency-->
    | model | ... |
    <!--/table-->

    python scripts/readme_figures.py check            # the documents show what their records say (a test runs this)
    python scripts/readme_figures.py update           # rewrite the marked figures and tables from the records
    python scripts/readme_figures.py record reports/default/summary.json default [--by-hand setup_minutes=2.1]
    python scripts/readme_figures.py compare reports/default/summary.json default  # a new run against a record

`record --by-hand` adds what a run cannot know of itself (the set-up's time, measured with
`time`), listed as such in the record. `compare` is how a fresh clone checks what the README says:
scores, accuracies and step counts must equal the record's; times are shown as ratios (they vary
with the machine and its load).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diffglat.io import atomic_write_json, atomic_write_text, read_json  # noqa: E402

DOCUMENTS = [ROOT / "README.md", ROOT / "config" / "README.md"]
RECORDS = ROOT / "docs" / "runs"
FIGURE = re.compile(r"<!--run (?P<record>[\w-]+) (?P<name>[\w.-]+)-->(?P<value>.*?)<!--/run-->")
# a table's body may not hold another table's opener: an opener without its closer is an error,
# not a reason to swallow the text up to the next table's closer
TABLE = re.compile(r"<!--table (?P<record>[\w-]+)-->\n(?P<body>(?:(?!<!--table ).)*?)<!--/table-->", re.S)
OPENERS = re.compile(r"<!--(run|table) ")
# figures a rerun of the same config on the same kind of machine must reproduce exactly
REPRODUCED = ("bleu", "chrf", "accuracy", "steps", "plateau_step", "bleu4", "rouge_l", "meteor", "cider")

# The decoding-latency table: its rows (experiment, decoding), their labels, and the paper's
# speedup at batch 1 on a V100 (Table 3; Table 9 for the deep-shallow AR).
LATENCY_ROWS = [
    ("ar", "main", "AR 3+6 (beam 4)", "1.0x"),
    ("ar", "greedy", "AR 3+6 (greedy)", ""),
    ("ar_deep_shallow", "main", "AR 6+1, deep encoder (beam 4)", "2.7x (12-1; Table 9: 108.9 against 297.0 ms)"),
    ("ctc", "main", "CTC", "14.3x"),
    ("glat", "main", "GLAT (length beam 3)", ""),
    ("glat_ctc", "main", "GLAT+CTC", "14.3x"),
    ("dat", "main", "DAT (Joint-Viterbi)", "13.0x"),
    ("dat", "lookahead", "DAT (lookahead)", ""),
    ("diffglat_1", "main", "DiffGLAT, 1 iteration", "13.0x"),
    ("diffglat_3", "main", "DiffGLAT, 3 iterations", "7.2x"),
]


def load_record(name: str, quoted_in: str) -> dict:
    path = RECORDS / f"{name}.json"
    if not path.is_file():
        raise SystemExit(f"{quoted_in}: the record {name!r} does not exist ({path.relative_to(ROOT)})")
    return read_json(path, ("figures",) if name not in TABLES else ("rows",))


def formatted(name: str, value) -> str:
    """A figure as a document prints it: counts with thousands separators, the rest to 0.1."""
    if value is None:
        return "none"
    if name.endswith(("steps", "step")):
        return f"{value:,}"
    return f"{value:.1f}"


def speedup(value) -> str:
    return "--" if value is None else f"{value:.1f}x"


def latency_table(record: dict) -> str:
    """What decode_latency.py measured: where and how, then ms per sentence and speedup per row."""
    rows = {(r["experiment"], r["variant"]): r for r in record["rows"]}
    untrained = sorted({r["experiment"] for r in record["rows"] if r["weights"] != "trained"})
    lines = [f"Measured {record['measured_on']} at commit {', '.join(record['git_commits'])} on "
             f"{record['hardware']}, {record['threads']} torch thread(s): {record['benchmark']} "
             f"{record['test_set']}, batch 1 over its first {record['sentences_batch1']} sentences, batch 64 over "
             f"all {record['sentences_batch64']}; milliseconds per sentence and speedup over the AR with beam search"
             + (f"; fresh (untrained) weights for {', '.join(untrained)}" if untrained else
                "; every model with its trained weights") + ".", "",
             "| model (decoding) | batch 1 | speedup | batch 64 | speedup | paper, V100 batch 1 |",
             "|---|---|---|---|---|---|"]
    for experiment, variant, label, paper in LATENCY_ROWS:
        r = rows.get((experiment, variant))
        if r is None:
            raise SystemExit(f"the record decode_latency has no row {experiment}:{variant}")
        lines.append(f"| {label} | {r['ms_batch1']:.1f} | {speedup(r['speedup_batch1'])} | {r['ms_batch64']:.2f} | "
                     f"{speedup(r['speedup_batch64'])} | {paper} |")
    return "\n".join(lines) + "\n"


# records rendered as a whole table (benchmark outputs), by record name
TABLES = {"decode_latency": latency_table}


def rendered(text: str, document: str) -> str:
    """`text` with every marked figure and table as its record says."""
    records: dict[str, dict] = {}

    def record_named(name: str) -> dict:
        if name not in records:
            records[name] = load_record(name, document)
        return records[name]

    def one_figure(m: re.Match) -> str:
        figures = record_named(m["record"])["figures"]
        if m["name"] not in figures:
            raise SystemExit(f"{document} quotes {m['name']!r} of the record {m['record']!r}, which has no such figure")
        return f"<!--run {m['record']} {m['name']}-->{formatted(m['name'], figures[m['name']])}<!--/run-->"

    def one_table(m: re.Match) -> str:
        if m["record"] not in TABLES:
            raise SystemExit(f"{document}: no table is rendered from the record {m['record']!r}")
        return f"<!--table {m['record']}-->\n{TABLES[m['record']](record_named(m['record']))}<!--/table-->"

    markers = len(OPENERS.findall(text))
    matched = len(FIGURE.findall(text)) + len(TABLE.findall(text))
    if markers != matched:
        raise SystemExit(f"{document}: {markers - matched} of its {markers} <!--run ...--> and <!--table ...--> "
                         f"markers are not closed on the same line (<!--/run-->) or before the next table "
                         f"(<!--/table-->)")
    return TABLE.sub(one_table, FIGURE.sub(one_figure, text))


def check() -> int:
    stale = 0
    for path in DOCUMENTS:
        name = str(path.relative_to(ROOT))
        text = path.read_text(encoding="utf-8")
        want = rendered(text, name)
        if want == text:
            print(f"{name}: {len(FIGURE.findall(text))} figures and {len(TABLE.findall(text))} tables "
                  f"as their records in {RECORDS.relative_to(ROOT)}/ say")
            continue
        stale += 1
        for line, (have, wanted) in enumerate(zip(text.splitlines(), want.splitlines()), 1):
            if have != wanted:
                print(f"{name}:{line} says: {have.strip()}\n  its record says: {wanted.strip()}")
    if stale:
        print("run `python scripts/readme_figures.py update` (or fix the record a figure names)")
    return 1 if stale else 0


def update() -> int:
    for path in DOCUMENTS:
        name = str(path.relative_to(ROOT))
        text = path.read_text(encoding="utf-8")
        want = rendered(text, name)
        if want != text:
            atomic_write_text(path, want)
        print(f"{name}: {'updated' if want != text else 'unchanged'}")
    return 0


def record(summary: Path, name: str, by_hand: list[str]) -> int:
    data = read_json(summary, ("figures",))
    for item in by_hand:
        key, _, value = item.partition("=")
        try:
            data["figures"][key] = float(value)
        except ValueError:
            raise SystemExit(f"--by-hand {item!r}: expected NAME=NUMBER") from None
    data["recorded"] = {"from": str(summary), "on": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
                        "by_hand": [item.partition("=")[0] for item in by_hand]}
    path = RECORDS / f"{name}.json"
    atomic_write_json(path, data)
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


def differences(new: dict, old: dict) -> tuple[list[str], list[str]]:
    """(the figures a rerun must reproduce that it did not, the times side by side)."""
    wrong, times = [], []
    for name, value in old["figures"].items():
        ours = new["figures"].get(name, "missing")
        if name.endswith(REPRODUCED):
            close = isinstance(ours, float) and isinstance(value, float) and math.isclose(ours, value, abs_tol=1e-9)
            if ours != value and not close:
                wrong.append(f"{name}: {ours} (record: {value})")
        elif name.endswith("minutes") and isinstance(ours, (int, float)) and value:
            times.append(f"{name}: {ours:.1f} min (record: {value:.1f}, x{ours / value:.2f})")
    return wrong, times


def compare(summary: Path, name: str) -> int:
    new, old = read_json(summary, ("figures",)), load_record(name, "compare")
    wrong, times = differences(new, old)
    for line in times:
        print(line)
    for who, run in (("this run", new), ("record  ", old)):
        print(f"{who}: {'; '.join(run['hardware'])}; {', '.join(run['precisions'])}; "
              f"commit {', '.join(run['git_commits'])}")
    if wrong:
        print(f"{len(wrong)} figures differ from the record {name!r}:\n  " + "\n  ".join(wrong))
        return 1
    print(f"every score, accuracy and step count of the record {name!r} reproduced")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="exit 1 if a document differs from its records")
    commands.add_parser("update", help="rewrite the documents' marked figures and tables")
    for command in ("record", "compare"):
        sub = commands.add_parser(command)
        sub.add_argument("summary", type=Path, help="a run's reports/<scale>/summary.json")
        sub.add_argument("name", help="the record's name (docs/runs/<name>.json)")
        if command == "record":
            sub.add_argument("--by-hand", nargs="*", default=[], metavar="NAME=NUMBER",
                             help="figures measured outside the run (e.g. setup_minutes=2.1)")
    args = parser.parse_args()
    if args.command == "check":
        return check()
    if args.command == "update":
        return update()
    if args.command == "record":
        return record(args.summary, args.name, args.by_hand)
    return compare(args.summary, args.name)


if __name__ == "__main__":
    sys.exit(main())
