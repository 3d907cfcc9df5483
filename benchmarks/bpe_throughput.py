"""Sentences per second encoding Multi30k train into BPE ids: the project's pipeline vs the library's.

The sentencepiece wheel (0.2.1) ships no spm_encode command line, only the Python module (Debian's
spm_encode is an older release, 0.1.97), so the reference is the library's own batch encoder,
SentencePieceProcessor.encode(lines, num_threads=...), with the same model on the same files: the
tokenised train text of both sides that `diffglat prepare` wrote. The project's figure is
BPE.encode, which `diffglat prepare` binarises with (ids plus lengths as numpy arrays).

    diffglat prepare --config config/config.yaml --benchmark multi30k_en_de
    python benchmarks/bpe_throughput.py [--prepared data/prepared/multi30k_en_de] [--threads 1]

Exits 1 when the project's throughput is below 80% of the library's.
"""

from __future__ import annotations

import argparse
import sys
import time
from importlib.metadata import version
from pathlib import Path

from diffglat.data.bpe import BPE
from diffglat.data.corpus import read_lines


def best_seconds(encoders: dict, lines: list[str], repeats: int) -> dict[str, float]:
    """The fastest of `repeats` runs of each encoder; runs alternate so both see the same machine load."""
    times = {name: [] for name in encoders}
    for _ in range(repeats):
        for name, encode in encoders.items():
            start = time.perf_counter()
            encode(lines)
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared/multi30k_en_de"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    files = sorted(args.prepared.glob("train.tok.*"))
    if not (args.prepared / "stats.json").is_file() or not files:
        print(f"{args.prepared} is not prepared: run `diffglat prepare --config config/config.yaml "
              f"--benchmark {args.prepared.name}` first", file=sys.stderr)
        return 2
    lines = [line for f in files for line in read_lines(f)]
    bpe = BPE(args.prepared / "spm.model")

    seconds = best_seconds({"library": lambda x: bpe.sp.encode(x, out_type=int, num_threads=args.threads),
                            "project": lambda x: bpe.encode(x, args.threads)}, lines, args.repeats)
    library, project = seconds["library"], seconds["project"]
    ratio = library / project
    print(f"{len(lines):,} sentences ({', '.join(f.name for f in files)}), {args.threads} thread(s), best of {args.repeats}")
    print(f"library  sentencepiece {version('sentencepiece')} SentencePieceProcessor.encode: {len(lines) / library:9,.0f} sentences/s")
    print(f"project  diffglat BPE.encode:                               {len(lines) / project:9,.0f} sentences/s "
          f"({100 * ratio:.0f}% of the library)")
    return 0 if ratio >= 0.8 else 1


if __name__ == "__main__":
    sys.exit(main())
