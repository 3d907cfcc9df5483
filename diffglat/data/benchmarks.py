"""The config's benchmark registry resolved to files on disk.

A benchmark (config `benchmarks.<name>`) names its source and target language, its train and
valid corpora, its test sets by name (the first is the paper's), its BPE vocabulary size and its
training length filters. A corpus is a list of items read one after the other: a file prefix P
stands for the text pair P.<source side>[.gz] / P.<target side>[.gz] (the sides are the languages
unless `sides` names them, as a paraphrase task in one language must), a mapping {file, source,
target} for one JSON or JSON Lines file with a field per side; "{shared_data}", "{corpora}" (any
key of `paths`) in a name are replaced by the configured path.

Every file is checked before any work starts; a missing one is reported with the config key that
names it and, for the paper's corpora that are not available offline, what to put there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import STUDIES, ConfigError
from .corpus import read_json_pairs, read_parallel
from .images import IMAGE

SPLITS_BEFORE_TESTS = ("train", "valid")
# The version of what `prepare` writes (its files, filters and stats.json): part of every prepared
# folder's fingerprint, so a change here prepares the folders again. 2: named sides, repeats
# dropped, the held-out overlap compared as tokens.
PREPARED_FORMAT = 2


@dataclass(frozen=True)
class Corpus:
    """One item of a split: a line-aligned pair of text files, or one JSON file with a field per side."""
    files: tuple[Path, ...]
    fields: tuple[str, str] | None = None  # a JSON file's (source field, target field)

    def pairs(self):
        """The (source, target) sentence pairs, in order."""
        return read_parallel(*self.files) if self.fields is None else read_json_pairs(self.files[0], *self.fields)

    def __str__(self) -> str:
        if self.fields is None:
            return " + ".join(map(str, self.files))
        return f"{self.files[0]} (fields {self.fields[0]!r}, {self.fields[1]!r})"


@dataclass(frozen=True)
class KarpathySplit:
    """One item of a captioning split: a split of the Karpathy-split JSON, with the image features."""
    files: tuple[Path, Path]  # (captions JSON, features folder or file)
    split: str

    def __str__(self) -> str:
        return f"{self.files[0]} (split {self.split!r}), features {self.files[1]}"


@dataclass
class Benchmark:
    name: str
    source: str
    target: str
    sides: tuple[str, str]  # file suffixes of the source and target side (text corpora, prepared files)
    # split name -> its corpora: train, valid, then the test sets in order.
    corpora: dict[str, list[Corpus | KarpathySplit]]
    test_sets: list[str]
    vocab_size: int
    max_length: int
    max_ratio: float
    deduplicate: bool  # drop repeated train pairs

    @property
    def captioning(self) -> bool:
        return self.source == IMAGE

    @property
    def files(self) -> list[Path]:
        return list(dict.fromkeys(path for corpora in self.corpora.values() for corpus in corpora
                                  for path in corpus.files))


def benchmark_sides(entry: dict) -> tuple[str, str]:
    """The file suffixes of a registry entry's source and target side: `sides`, else its languages."""
    return tuple(entry.get("sides") or (entry["source"], entry["target"]))


def prepared_dir(config: dict, name: str) -> Path:
    """Where `diffglat prepare` writes a benchmark: <paths.data>/prepared/<name>/."""
    return Path(config["paths"]["data"]) / "prepared" / name


def paper_test_set(config: dict, name: str) -> str:
    """A benchmark's first test set: the one the paper reports (the registry lists it first)."""
    return next(iter(config["benchmarks"][name]["test"]))


def study_of(config: dict, name: str) -> str:
    """The config section whose experiments train on benchmark `name`: paraphrase and captioning
    for those they list, translation for every other."""
    return next((study for study in ("paraphrase", "captioning") if name in config[study]["benchmarks"]), "translation")


def unavailable(config: dict, name: str) -> str | None:
    """Why a captioning benchmark cannot run here (its features or captions are missing), else None."""
    entry = config["benchmarks"].get(name)  # an unknown name: selected_benchmarks says so
    if entry is None or entry["source"] != IMAGE or "images" not in entry:
        return None
    return _image_files(name, entry, config["paths"])[1]


def study_benchmarks(config: dict, study: str) -> list[str]:
    """The benchmarks a study trains on in this run: those it lists, less the unavailable captioning ones."""
    return [name for name in config[study]["benchmarks"] if unavailable(config, name) is None]


def preparation_inputs(config: dict, name: str) -> list:
    """The config a benchmark's prepared data depends on (its fingerprint's input): its registry
    entry, the `prepare` settings and the DAG filter that stats.json counts, but not which other
    benchmarks the run selects; and the format version of prepare's output."""
    return [config["benchmarks"][name], {k: v for k, v in config["prepare"].items() if k != "benchmarks"},
            config[study_of(config, name)]["dag_filter"], PREPARED_FORMAT]


def selected_benchmarks(config: dict) -> list[str]:
    """The benchmarks this run prepares: `prepare.benchmarks` and those the studies train on,
    each checked to exist in the registry."""
    selected = []
    for key in ("prepare", *STUDIES):
        for i, name in enumerate(config[key]["benchmarks"]):
            if name not in config["benchmarks"]:
                raise ConfigError(f"{key}.benchmarks[{i}]: no benchmark {name!r} in `benchmarks` "
                                  f"(known: {', '.join(sorted(config['benchmarks']))})")
            if name not in selected and (key != "captioning" or unavailable(config, name) is None):
                selected.append(name)
    return selected


def _placed(name: str, key: str, paths: dict) -> str:
    try:
        return name.format(**paths)
    except (KeyError, IndexError, ValueError) as err:
        raise ConfigError(f"{key}: bad placeholder in {name!r} ({err}); allowed: "
                          f"{', '.join('{' + k + '}' for k in paths)}") from None


def _missing(key: str, name: str, entry: dict, paths: dict) -> ConfigError:
    hint = (f"put the standard corpus there: {entry['standard_corpus']}" if "standard_corpus" in entry
            else f"the offline corpora are under paths.shared_data ({paths['shared_data']}); see its README.md")
    return ConfigError(f"{key}: {name} not found; {hint}")


def _find(stem: str, side: str, key: str, entry: dict, paths: dict) -> Path:
    found = [p for p in (Path(f"{stem}.{side}"), Path(f"{stem}.{side}.gz")) if p.is_file()]
    if len(found) == 1:
        return found[0]
    if found:
        raise ConfigError(f"{key}: both {found[0]} and {found[1]} exist; keep one")
    raise _missing(key, f"{stem}.{side}[.gz]", entry, paths)


def _corpus(item, key: str, sides: tuple[str, str], entry: dict, paths: dict) -> Corpus:
    if isinstance(item, str):
        stem = _placed(item, key, paths)
        return Corpus(tuple(_find(stem, side, key, entry, paths) for side in sides))
    path = Path(_placed(item["file"], f"{key}.file", paths))
    if not path.is_file():
        raise _missing(f"{key}.file", str(path), entry, paths)
    return Corpus((path,), (item["source"], item["target"]))


IMAGE_FILES = {"features": "MS-COCO features", "captions": "the Karpathy split"}  # checked in this order


def _image_files(name: str, entry: dict, paths: dict) -> tuple[list[Path], str | None]:
    """A captioning benchmark's (captions, features) paths, and what is missing, naming its key."""
    placed = {part: Path(_placed(entry["images"][part], f"benchmarks.{name}.images.{part}", paths)) for part in IMAGE_FILES}
    missing = next((f"{what} not found at benchmarks.{name}.images.{part} ({placed[part]})"
                    for part, what in IMAGE_FILES.items() if not placed[part].exists()), None)
    return [placed["captions"], placed["features"]], missing


def _karpathy(name: str, entry: dict, paths: dict) -> dict[str, list[KarpathySplit]]:
    """A captioning benchmark's splits, its captions file and features found, or a ConfigError naming the key."""
    if entry["target"] == IMAGE or "images" not in entry:
        raise ConfigError(f"benchmarks.{name}.images: a benchmark with source {IMAGE!r} is image captioning: it "
                          f"names its images (captions: a Karpathy-split JSON, features) and a text target")
    found, missing = _image_files(name, entry, paths)
    if missing:
        raise ConfigError(missing + (f"; put there: {entry['standard_corpus']}" if "standard_corpus" in entry else ""))
    splits = {split: entry[split] for split in SPLITS_BEFORE_TESTS} | entry["test"]
    for split, items in splits.items():
        for i, item in enumerate(items):
            if not isinstance(item, str):
                group = "test." if split not in SPLITS_BEFORE_TESTS else ""
                raise ConfigError(f"benchmarks.{name}.{group}{split}[{i}]: a captioning split lists Karpathy split "
                                  "names (train, restval, val, test)")
    return {split: [KarpathySplit(tuple(found), item) for item in items] for split, items in splits.items()}


def resolve_benchmark(config: dict, name: str) -> Benchmark:
    """The benchmark `name` with every file found, or a ConfigError naming the key."""
    if name not in config["benchmarks"]:
        raise ConfigError(f"benchmarks: no benchmark {name!r} (known: {', '.join(sorted(config['benchmarks']))})")
    entry = config["benchmarks"][name]
    if entry["source"] == IMAGE or "images" in entry:
        if entry["source"] != IMAGE:
            raise ConfigError(f"benchmarks.{name}.source: a benchmark with images is captioning: source {IMAGE!r}")
        return Benchmark(name, IMAGE, entry["target"], (IMAGE, entry["target"]), _karpathy(name, entry, config["paths"]),
                         list(entry["test"]), entry["vocab_size"], entry["max_length"], entry["max_ratio"],
                         entry.get("deduplicate", False))
    sides = benchmark_sides(entry)
    if sides[0] == sides[1]:
        key = "sides" if "sides" in entry else "target"
        raise ConfigError(f"benchmarks.{name}.{key}: the target side's file suffix must differ from the source's "
                          f"({sides[0]}); a task in one language names its sides, e.g. sides: [src, tgt]")
    split_items = {split: entry[split] for split in SPLITS_BEFORE_TESTS} | entry["test"]
    corpora = {}
    for split, items in split_items.items():
        group = "test." if split not in SPLITS_BEFORE_TESTS else ""
        corpora[split] = [_corpus(item, f"benchmarks.{name}.{group}{split}[{i}]", sides, entry, config["paths"])
                          for i, item in enumerate(items)]
    return Benchmark(name, entry["source"], entry["target"], sides, corpora, list(entry["test"]),
                     entry["vocab_size"], entry["max_length"], entry["max_ratio"], entry.get("deduplicate", False))
