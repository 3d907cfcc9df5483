"""The config's benchmark registry resolved to files on disk.

A benchmark (config `benchmarks.<name>`) names its source and target language, its train and
valid corpora, its test sets by name (the first is the paper's), its BPE vocabulary size and its
training length filters. A corpus is a list of file prefixes read one after the other; prefix P
stands for the pair P.<source>[.gz] / P.<target>[.gz], and "{shared_data}", "{corpora}" (any key
of `paths`) in it are replaced by the configured path.

Every file is checked before any work starts; a missing one is reported with the config key that
names it and, for the paper's corpora that are not available offline, what to put there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import ConfigError

SPLITS_BEFORE_TESTS = ("train", "valid")


@dataclass
class Benchmark:
    name: str
    source: str
    target: str
    # split name -> [(source file, target file), ...]: train, valid, then the test sets in order.
    corpora: dict[str, list[tuple[Path, Path]]]
    test_sets: list[str]
    vocab_size: int
    max_length: int
    max_ratio: float

    @property
    def files(self) -> list[Path]:
        return [path for pairs in self.corpora.values() for pair in pairs for path in pair]


def prepared_dir(config: dict, name: str) -> Path:
    """Where `diffglat prepare` writes a benchmark: <paths.data>/prepared/<name>/."""
    return Path(config["paths"]["data"]) / "prepared" / name


def paper_test_set(config: dict, name: str) -> str:
    """A benchmark's first test set: the one the paper reports (the registry lists it first)."""
    return next(iter(config["benchmarks"][name]["test"]))


def preparation_inputs(config: dict, name: str) -> list:
    """The config a benchmark's prepared data depends on (its fingerprint's input): its registry
    entry, the `prepare` settings and the DAG filter that stats.json counts, but not which other
    benchmarks the run selects."""
    return [config["benchmarks"][name], {k: v for k, v in config["prepare"].items() if k != "benchmarks"},
            config["translation"]["dag_filter"]]


def selected_benchmarks(config: dict) -> list[str]:
    """The benchmarks this run prepares: `prepare.benchmarks` and those `translation.benchmarks`
    trains on, each checked to exist in the registry."""
    selected = []
    for key in ("prepare", "translation"):
        for i, name in enumerate(config[key]["benchmarks"]):
            if name not in config["benchmarks"]:
                raise ConfigError(f"{key}.benchmarks[{i}]: no benchmark {name!r} in `benchmarks` "
                                  f"(known: {', '.join(sorted(config['benchmarks']))})")
            if name not in selected:
                selected.append(name)
    return selected


def _find(prefix: str, lang: str, key: str, entry: dict, paths: dict) -> Path:
    try:
        stem = prefix.format(**paths)
    except (KeyError, IndexError, ValueError) as err:
        raise ConfigError(f"{key}: bad placeholder in {prefix!r} ({err}); allowed: "
                          f"{', '.join('{' + k + '}' for k in paths)}") from None
    found = [p for p in (Path(f"{stem}.{lang}"), Path(f"{stem}.{lang}.gz")) if p.is_file()]
    if len(found) == 1:
        return found[0]
    if found:
        raise ConfigError(f"{key}: both {found[0]} and {found[1]} exist; keep one")
    hint = (f"put the standard corpus there: {entry['standard_corpus']}" if "standard_corpus" in entry
            else f"the offline corpora are under paths.shared_data ({paths['shared_data']}); see its README.md")
    raise ConfigError(f"{key}: {stem}.{lang}[.gz] not found; {hint}")


def resolve_benchmark(config: dict, name: str) -> Benchmark:
    """The benchmark `name` with every file found, or a ConfigError naming the key."""
    if name not in config["benchmarks"]:
        raise ConfigError(f"benchmarks: no benchmark {name!r} (known: {', '.join(sorted(config['benchmarks']))})")
    entry = config["benchmarks"][name]
    if entry["source"] == entry["target"]:
        raise ConfigError(f"benchmarks.{name}.target: must differ from its source language ({entry['source']})")
    split_prefixes = {split: entry[split] for split in SPLITS_BEFORE_TESTS} | entry["test"]
    corpora = {}
    for split, prefixes in split_prefixes.items():
        group = "test." if split not in SPLITS_BEFORE_TESTS else ""
        corpora[split] = [
            tuple(_find(prefix, lang, f"benchmarks.{name}.{group}{split}[{i}]", entry, config["paths"])
                  for lang in (entry["source"], entry["target"]))
            for i, prefix in enumerate(prefixes)]
    return Benchmark(name, entry["source"], entry["target"], corpora, list(entry["test"]),
                     entry["vocab_size"], entry["max_length"], entry["max_ratio"])
