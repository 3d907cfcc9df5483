"""Loading and validating pipeline configs.

A run is described by one or more YAML files merged in order (later files override earlier ones,
dictionaries merge key by key), exactly as Snakemake merges `configfile:` with `--configfile`,
over the benchmark registry (`benchmarks.yaml` beside this module: the base layer of every config).
Keys the schema gives a `default` are filled in; the merged config is checked against
`config.schema.json` (JSON Schema draft 2020-12) before any work starts, the model families' typed
`model_args` included when their schemas are passed; errors name the key path and the file that set it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import jsonschema
import yaml

from .io import atomic_write_text

SCHEMA_PATH = Path(__file__).with_name("config.schema.json")
REGISTRY_PATH = Path(__file__).with_name("benchmarks.yaml")


# The sequence-to-sequence studies: config sections of the same shape (schema $defs/study), each
# training its experiments on its own benchmarks.
STUDIES = ("translation", "paraphrase", "captioning")


class ConfigError(ValueError):
    """A config that cannot be used; the message names the key and the file."""


def deep_merge(base: dict, override: dict) -> dict:
    """Return base updated by override, merging nested dictionaries key by key."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(loaded).__name__}")
    return loaded


def load_config(paths: list[str | Path], model_args: dict[str, dict] | None = None) -> dict:
    """Merge the YAML files in order over the registry, fill defaults, validate (see `resolve`)."""
    layers = [(str(p), read_yaml(p)) for p in paths]
    merged: dict = {}
    for _, layer in layers:
        merged = deep_merge(merged, layer)
    return resolve(merged, layers, model_args)


def resolve(config: dict, sources: list[tuple[str, dict]], model_args: dict[str, dict] | None = None) -> dict:
    """config (merged from the files of `sources`) over the benchmark registry, with the schema's
    defaults filled in, validated. model_args: family -> schema of its model_args (cli/families.py)."""
    registry = read_yaml(REGISTRY_PATH)
    schema = _schema(model_args)
    merged = fill_defaults(deep_merge(registry, config), schema, schema)
    _check(merged, [(str(REGISTRY_PATH), registry), *sources], schema)
    return merged


def _schema(model_args: dict[str, dict] | None) -> dict:
    """config.schema.json; with the families' model_args schemas, each experiment's `model` must name
    a family and its `model_args` must follow that family's schema."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    if model_args:
        experiment = schema["$defs"]["study"]["properties"]["experiments"]["additionalProperties"]
        experiment["properties"]["model"]["enum"] = sorted(model_args)
        experiment["allOf"] = [
            {"if": {"properties": {"model": {"const": name}}, "required": ["model"]},
             "then": {"properties": {"model_args": args}, **({"required": ["model_args"]} if args["required"] else {})}}
            for name, args in model_args.items()]
    return schema


def fill_defaults(node, schema: dict, root: dict):
    """node with every missing key whose schema (properties, additionalProperties, local $ref) has a
    `default` filled in, recursively; the config's own values are never changed."""
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    if not isinstance(node, dict):
        return node
    filled = dict(node)
    properties = schema.get("properties", {})
    for key, sub in properties.items():
        if key not in filled and isinstance(sub, dict) and "default" in sub:
            filled[key] = copy.deepcopy(sub["default"])
    for key, value in filled.items():
        sub = properties.get(key, schema.get("additionalProperties"))
        if isinstance(sub, dict):
            filled[key] = fill_defaults(value, sub, root)
    return filled


def _key_path(error: jsonschema.ValidationError) -> list[str]:
    path = [str(part) for part in error.absolute_path]
    if error.validator == "additionalProperties":
        # The offending key is not part of the path: name it explicitly.
        allowed = set(error.schema.get("properties", {}))
        path += sorted(set(error.instance) - allowed)[:1]
    elif error.validator == "required":
        path += [error.message.split("'")[1]]
    return path


def _file_setting(path: list[str], sources: list[tuple[str, dict]]) -> str | None:
    """The last config file that sets (a prefix of) this key path."""
    for name, layer in reversed(sources):
        node, found = layer, True
        for part in path:
            if isinstance(node, dict) and part in node:
                node = node[part]
            else:
                found = False
                break
        if found and path:
            return name
    return None


def validate(config: dict, sources: list[tuple[str, dict]] | None = None,
             model_args: dict[str, dict] | None = None) -> None:
    """Raise ConfigError listing every problem, each with its dotted key path."""
    _check(config, sources, _schema(model_args))


def _check(config: dict, sources: list[tuple[str, dict]] | None, schema: dict) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    lines = []
    for error in errors:
        path = _key_path(error)
        key = ".".join(path) or "<top level>"
        if error.validator == "additionalProperties":
            message = f"unknown key (allowed here: {', '.join(sorted(error.schema.get('properties', {})))})"
        else:
            message = error.message
        # a missing key: the file that set the mapping it is missing from
        origin = _file_setting(path[:-1] if error.validator == "required" else path, sources or [])
        lines.append(f"  {key}: {message}" + (f"  [set in {origin}]" if origin else ""))
    lines += [f"  {key}: {message}" for key, message in _semantic_errors(config)] if not lines else []
    if lines:
        raise ConfigError("invalid config:\n" + "\n".join(lines))


def _semantic_errors(config: dict) -> list[tuple[str, str]]:
    """Checks that span several keys, which a schema cannot express."""
    errors = []
    synthetic = config["synthetic"]
    decoder_layers = synthetic["model"]["decoder_layers"]
    if synthetic["model"]["d_model"] % synthetic["model"]["heads"]:
        errors.append(("synthetic.model.heads", "must divide synthetic.model.d_model"))
    gpus = config["resources"]["synthetic_train"]["gpu"]
    for name, experiment in synthetic["experiments"].items():
        overridden = "update_freq" in experiment.get("train", {})
        update_freq = (experiment["train"] if overridden else synthetic["train"])["update_freq"]
        if gpus > 1 and update_freq % gpus:
            key = f"synthetic.experiments.{name}.train.update_freq" if overridden else "synthetic.train.update_freq"
            errors.append((key, f"must be a multiple of resources.synthetic_train.gpu ({gpus}): each GPU's process "
                                f"accumulates update_freq / gpu batches per update"))
        layer = experiment.get("pml_middle_layer")
        if layer is None:
            continue
        key = f"synthetic.experiments.{name}.pml_middle_layer"
        if experiment["model"] != "nat":
            errors.append((key, "progressive modality learning needs model: nat"))
        elif layer >= decoder_layers:
            errors.append((key, f"must be below the last decoder layer ({decoder_layers})"))
    return errors + _study_errors(config)


def experiment_section(study: dict, experiment: str, section: str) -> dict:
    """A study-wide section (train, loss, decode, validate) with one experiment's overrides merged in."""
    return {**study[section], **study["experiments"][experiment].get(section, {})}


def _study_errors(config: dict) -> list[tuple[str, str]]:
    """The checks of the seq2seq studies (translation, paraphrase, captioning) that a schema cannot express."""
    errors = []
    for i, name in enumerate(STUDIES):
        for earlier in STUDIES[:i]:
            both = sorted(set(config[earlier]["benchmarks"]) & set(config[name]["benchmarks"]))
            if both:
                errors.append((f"{name}.benchmarks", f"{both[0]!r} is also in {earlier}.benchmarks: a benchmark "
                                                     "belongs to one study"))
    for name in STUDIES:
        for i, benchmark in enumerate(config[name]["benchmarks"]):
            entry = config["benchmarks"].get(benchmark)
            if entry is not None and (entry["source"] == "image") != (name == "captioning"):
                errors.append((f"{name}.benchmarks[{i}]", f"{benchmark!r} " + (
                    "is image captioning (source: image): list it in captioning.benchmarks" if name != "captioning"
                    else "is not image captioning (its source is text)")))
    for experiment_name, experiment in config["captioning"]["experiments"].items():
        if "max_length_offset" in experiment.get("model_args", {}):
            errors.append((f"captioning.experiments.{experiment_name}.model_args.max_length_offset",
                           "a length predicted as an offset from the source's has no meaning for image regions: "
                           "captioning needs a family that decodes without it (ar, ctc, dat, diffglat, ...)"))
    gpus = config["resources"].get("translate_train", config["resources"]["default"])["gpu"]
    for name in STUDIES:
        study = config[name]
        for size_name, size in study["sizes"].items():
            if size["d_model"] % size["heads"]:
                errors.append((f"{name}.sizes.{size_name}.heads", "must divide d_model"))
        for experiment_name, experiment in study["experiments"].items():
            key = f"{name}.experiments.{experiment_name}"
            if experiment["size"] not in study["sizes"]:
                errors.append((f"{key}.size", f"{experiment['size']!r} is not one of {name}.sizes "
                                              f"({', '.join(study['sizes'])})"))
            parent = experiment.get("branch_from")
            if parent is not None:
                def steps(e):
                    return experiment_section(study, e, "train")["max_steps"]
                if parent not in study["experiments"]:
                    errors.append((f"{key}.branch_from", f"{parent!r} is not one of {name}.experiments"))
                elif study["experiments"][parent].get("branch_from") is not None:
                    errors.append((f"{key}.branch_from", f"{parent!r} branches off another experiment itself: "
                                                         "branch off its root"))
                elif steps(parent) >= steps(experiment_name):
                    errors.append((f"{key}.branch_from", f"{parent!r} trains {steps(parent)} steps, not fewer than "
                                                         f"this experiment's {steps(experiment_name)}"))
            update_freq = experiment_section(study, experiment_name, "train")["update_freq"]
            if gpus > 1 and update_freq % gpus:
                errors.append((f"{key}.train.update_freq",
                               f"{update_freq} must be a multiple of resources.translate_train.gpu ({gpus})"))
    return errors


def section_hash(section) -> str:
    """A short stable fingerprint of a config section, stored with every result file."""
    canonical = json.dumps(section, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def write_config(config: dict, path: str | Path) -> bool:
    """Write the resolved config atomically; leave the file untouched when nothing changed.

    Returns True when the file was (re)written.
    """
    path = Path(path)
    text = yaml.safe_dump(config, sort_keys=False)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    atomic_write_text(path, text)
    return True
