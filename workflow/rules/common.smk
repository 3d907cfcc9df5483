# Helpers shared by the rule files.

from diffglat.cli.translation import experiment_spec
from diffglat.data.benchmarks import paper_test_set

# Every job runs under it: `{LOGGED} {log} COMMAND...` keeps the output of the job's earlier runs in
# its log (Snakemake deletes a log before the job runs) and marks each run's start and end. Rules
# put it in with an f-string (hence their doubled braces): `snakemake --lint` rejects a shell
# command that names a global directly.
LOGGED = str(Path(workflow.basedir, "workflow", "scripts", "logged"))


def step_settings(name):
    """threads, mem_mb, runtime (minutes) and gpu of one step: config `resources` (else `resources.default`)."""
    return config["resources"].get(name, config["resources"]["default"])


def step_resources(name):
    return {k: v for k, v in step_settings(name).items() if k != "threads"}


def step_threads(name):
    return step_settings(name)["threads"]


def python_launcher(gpus):
    """How a job starts `python -m ...`: torchrun with one data-parallel process per GPU when it has several."""
    return f"python -m torch.distributed.run --standalone --nproc-per-node {gpus}" if gpus > 1 else "python"


def config_stamp(*sections):
    """A fingerprint of the config sections a step depends on; a change reruns the step."""
    node = config
    for key in sections:
        node = node[key]
    return section_hash(node)


def experiment_stamp(experiment):
    """What one experiment is (cli/translation.experiment_spec: its settings with the study's defaults
    merged in), hashed: a change reruns its jobs."""
    return section_hash(experiment_spec(config, experiment))


def translation_scores():
    """Every scores file the config implies: benchmarks x experiments x decoding variants."""
    return [
        f"{RESULTS}/{benchmark}/{experiment}/{paper_test_set(config, benchmark)}.{variant}.scores.json"
        for benchmark in config["translation"]["benchmarks"]
        for experiment in sorted(config["translation"]["experiments"])
        for variant in ["main", *config["translation"]["experiments"][experiment].get("decode_variants", {})]
    ]


def translation_models():
    """Every trained translation model the config implies: benchmarks x experiments."""
    return [
        f"{RESULTS}/{benchmark}/{experiment}/model.pt"
        for benchmark in config["translation"]["benchmarks"]
        for experiment in sorted(config["translation"]["experiments"])
    ]


def branch_parent(wildcards):
    """The final model of the experiment this one branches off (its warm-up), if any."""
    parent = config["translation"]["experiments"][wildcards.mt_experiment].get("branch_from")
    return [f"{RESULTS}/{wildcards.benchmark}/{parent}/model.pt"] if parent else []
