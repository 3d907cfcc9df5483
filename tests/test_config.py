"""A bad config fails before any work, with a message naming the key (and the file)."""

import subprocess
import sys

import pytest
import yaml

from diffglat.cli.families import FAMILIES, build_model, model_args_schemas
from diffglat.config import ConfigError, deep_merge, load_config

BASE = "config/config.yaml"


def write(tmp_path, text):
    path = tmp_path / "override.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("name", ["config.yaml", "smoke.yaml", "gpu.yaml", "paper.yaml"])
def test_shipped_configs_are_valid(repo, name):
    files = [repo / BASE] + ([repo / "config" / name] if name != "config.yaml" else [])
    config = load_config(files, model_args_schemas())
    assert config["synthetic"]["model"]["encoder_layers"] >= 1


@pytest.mark.parametrize("text, key, words", [
    ("synthetic: {train: {max_stepz: 3}}", "synthetic.train.max_stepz", "unknown key"),
    ("synthetic: {train: {lr: fast}}", "synthetic.train.lr", "not of type 'number'"),
    ("synthetic: {data: {train: -5}}", "synthetic.data.train", "less than the minimum"),
    ("compute: {device: tpu}", "compute.device", "is not one of"),
    ("synthetic: {experiments: {x: {model: ar, pml_middle_layer: 2}}}", "synthetic.experiments.x.pml_middle_layer", "needs model: nat"),
    ("synthetic: {experiments: {x: {model: nat, pml_middle_layer: 4}}}", "synthetic.experiments.x.pml_middle_layer", "below the last"),
])
def test_bad_values_name_the_key(repo, tmp_path, text, key, words):
    override = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config([repo / BASE, override])
    assert key in str(err.value) and words in str(err.value)


def test_error_names_the_file(repo, tmp_path):
    override = write(tmp_path, "synthetic: {data: {seed: -1}}")
    with pytest.raises(ConfigError, match="override.yaml"):
        load_config([repo / BASE, override])


def test_missing_file_and_bad_yaml(repo, tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config([tmp_path / "absent.yaml"])
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config([repo / BASE, write(tmp_path, "a: [")])


def test_deep_merge_overrides_leaves_only():
    merged = deep_merge({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"c": 5}})
    assert merged == {"a": {"b": 1, "c": 5}, "d": 3}


def test_cli_fails_before_any_work(repo, tmp_path):
    override = write(tmp_path, f"paths: {{data: {tmp_path}/data}}\nsynthetic: {{data: {{train: -5}}}}")
    run = subprocess.run([sys.executable, "-m", "diffglat", "synthetic", "data", "--config", str(repo / BASE), override],
                         capture_output=True, text=True, cwd=repo)
    assert run.returncode == 2
    assert "synthetic.data.train" in run.stderr
    assert not (tmp_path / "data").exists()


def test_snakemake_fails_before_any_job(repo, tmp_path):
    override = write(tmp_path, yaml.safe_dump({"paths": {"results": str(tmp_path / "results")},
                                               "synthetic": {"model": {"heads": "four"}}}))
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", override],
                         capture_output=True, text=True, cwd=repo)
    assert run.returncode != 0
    assert "synthetic.model.heads" in run.stdout + run.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("name", ["smoke.yaml", "paper.yaml"])
def test_no_cpu_scale_experiment_override_leaks_into_other_scales(repo, name):
    """Per-experiment `train` overrides of config.yaml are CPU-scale choices: smoke and paper replace them."""
    config = load_config([repo / BASE, repo / "config" / name])
    steps = config["synthetic"]["train"]["max_steps"]
    for experiment in config["synthetic"]["experiments"].values():
        assert experiment.get("train", {}).get("max_steps", steps) == steps


@pytest.mark.parametrize("name", ["smoke.yaml", "gpu.yaml", "paper.yaml"])
def test_no_cpu_scale_translation_override_leaks_into_other_scales(repo, name):
    """A translation experiment's CPU-scale `train` overrides (the deep-shallow AR's steps and LR, the
    warm-up's steps) are CPU-scale choices: smoke and paper scale must set each key again."""
    cpu = load_config([repo / BASE])["translation"]
    scale_file = yaml.safe_load((repo / "config" / name).read_text())["translation"]["experiments"]
    for experiment, spec in cpu["experiments"].items():
        for key in spec.get("train", {}):
            assert key in scale_file.get(experiment, {}).get("train", {}), f"{name}: {experiment}.train.{key}"


def test_paper_scale_diffglat_reads_the_paper_literally(repo):
    """The CPU-scale DiffGLAT choices (a progressive iterative warm-up, keeping 90% of y0 when no token
    agrees) must not leak into paper scale through the deep merge: there every DiffGLAT run warms up
    all its transitions and takes the literal gamma rule."""
    config = load_config([repo / BASE, repo / "config" / "paper.yaml"])
    diffglat = {name: spec for name, spec in config["translation"]["experiments"].items()
                if spec["model"].startswith("diffglat")}
    assert "diffglat_warmup" in diffglat
    for name, spec in diffglat.items():
        args = spec.get("model_args", {})
        assert args.get("warmup_transitions", "all") == "all", name
        assert args.get("empty_agreement", "largest") == "largest", name


@pytest.mark.parametrize("name", ["config.yaml", "smoke.yaml", "gpu.yaml", "paper.yaml"])
def test_no_plateau_can_cut_a_shared_warm_up_short(repo, name):
    """A run others branch from must reach its max_steps: its branches start at that step (and the
    cost plan counts their steps from it)."""
    files = [repo / BASE] + ([repo / "config" / name] if name != "config.yaml" else [])
    study = load_config(files)["translation"]
    for experiment in {spec["branch_from"] for spec in study["experiments"].values() if spec.get("branch_from")}:
        spec = study["experiments"][experiment]
        steps = {**study["train"], **spec.get("train", {})}["max_steps"]
        validate = {**study["validate"], **spec.get("validate", {})}
        plateau = validate["plateau"]
        earliest = plateau and max(plateau.get("min_steps", 0), (plateau["patience"] + 1) * validate["every"])
        assert not plateau or earliest >= steps, (name, experiment, earliest, steps)


@pytest.mark.parametrize("text, key, words", [
    ("translation: {experiments: {ctc: {model_args: {upsampel: 2}}}}", "translation.experiments.ctc.model_args.upsampel",
     "unknown key (allowed here: max_positions, upsample)"),
    ("translation: {experiments: {glat: {model_args: {glance_start: 1.5}}}}",
     "translation.experiments.glat.model_args.glance_start", "greater than the maximum of 1"),
    ("translation: {experiments: {diffglat_1: {model_args: {diffusion: gaussian}}}}",
     "translation.experiments.diffglat_1.model_args.diffusion", "is not one of"),
    ("translation: {experiments: {x: {model: dat, size: base}}}", "translation.experiments.x.model_args",
     "'model_args' is a required property"),
    ("translation: {experiments: {x: {model: dta, size: base}}}", "translation.experiments.x.model", "is not one of"),
])
def test_model_args_are_typed_per_family(repo, tmp_path, text, key, words):
    with pytest.raises(ConfigError) as err:
        load_config([repo / BASE, write(tmp_path, text)], model_args_schemas())
    line = next(line for line in str(err.value).splitlines() if line.strip().startswith(key))
    assert words in line and "[set in" in line and "override.yaml" in line, str(err.value)


def test_the_schema_of_every_family_names_its_constructor_arguments():
    """Each typed argument is one the model accepts (with the required ones alone, it builds)."""
    size = {"encoder_layers": 1, "decoder_layers": 3, "d_model": 16, "heads": 2, "ffn_dim": 32, "dropout": 0.0,
            "positions": "learned"}
    example = {"integer": 3, "number": 0.5}
    for name, family in FAMILIES.items():
        required = {arg: example[family.args[arg]["type"]] for arg in family.required}
        build_model(name, {**size, **required}, 50, 1)
        for arg, schema in family.args.items():
            value = schema.get("default", required.get(arg, example.get(schema.get("type"))))
            if value is None:  # an enum without a default
                value = schema["enum"][0]
            build_model(name, {**size, **required, arg: value}, 50, 1)  # a TypeError if the model has no such argument


def test_registry_is_the_base_layer_and_defaults_fill_once(repo, tmp_path):
    config = load_config([repo / BASE])
    assert config["benchmarks"]["news_mini_en_de"]["max_ratio"] == 3.0  # the schema's default
    assert config["benchmarks"]["multi30k_en_de"]["max_length"] == 100  # the registry's own value
    override = "benchmarks: {multi30k_en_de: {max_ratio: 1.5}, mine_xx_yy: {source: en, target: de, train: [a], " \
               "valid: [b], test: {t: [c]}, vocab_size: 400}}"
    config = load_config([repo / BASE, write(tmp_path, override)])
    assert config["benchmarks"]["multi30k_en_de"]["max_ratio"] == 1.5
    assert config["benchmarks"]["mine_xx_yy"]["max_length"] == 250 and config["benchmarks"]["mine_xx_yy"]["max_ratio"] == 3.0


def test_version_names_package_and_commit(repo):
    import diffglat
    run = subprocess.run([sys.executable, "-m", "diffglat", "--version"], capture_output=True, text=True, cwd=repo)
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, cwd=repo).stdout.strip()
    assert run.returncode == 0
    assert run.stdout.startswith(f"diffglat {diffglat.__version__} (git commit {head}"), run.stdout
