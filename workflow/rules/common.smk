# Helpers shared by the rule files.

import sys

from diffglat.cli.translation import experiment_spec
from diffglat.config import STUDIES
from diffglat.data.benchmarks import paper_test_set, study_benchmarks, study_of, unavailable

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


def experiment_stamp(benchmark, experiment):
    """What one experiment is (cli/translation.experiment_spec: its settings with its study's defaults
    merged in), hashed: a change reruns its jobs."""
    return section_hash(experiment_spec(config, experiment, study_of(config, benchmark)))


def study_runs():
    """(benchmark, experiment, its settings) of every training run of the seq2seq studies
    (translation, paraphrase, captioning; a captioning benchmark whose data is missing is left out)."""
    return [
        (benchmark, experiment, config[study]["experiments"][experiment])
        for study in STUDIES
        for benchmark in study_benchmarks(config, study)
        for experiment in sorted(config[study]["experiments"])
    ]


# MS-COCO is never offline: say once, before any job, which captioning benchmark is left out and why
# (the report's Table 5 says it too).
try:
    for _name in config["captioning"]["benchmarks"]:
        if (_reason := unavailable(config, _name)) is not None:
            print(f"captioning benchmark {_name} not run: {_reason}", file=sys.stderr)
except ConfigError as err:  # a bad {placeholder} in benchmarks.<name>.images
    raise WorkflowError(str(err))


def study_scores():
    """Every scores file the config implies: benchmarks x experiments x decoding variants."""
    return [
        f"{RESULTS}/{benchmark}/{experiment}/{paper_test_set(config, benchmark)}.{variant}.scores.json"
        for benchmark, experiment, settings in study_runs()
        for variant in ["main", *settings.get("decode_variants", {})]
    ]


def study_models():
    """Every trained model the config implies: benchmarks x experiments."""
    return [f"{RESULTS}/{benchmark}/{experiment}/model.pt" for benchmark, experiment, _ in study_runs()]


def branch_parent(wildcards):
    """The final model of the experiment this one branches off (its warm-up), if any."""
    study = config[study_of(config, wildcards.benchmark)]
    parent = study["experiments"][wildcards.mt_experiment].get("branch_from")
    return [f"{RESULTS}/{wildcards.benchmark}/{parent}/model.pt"] if parent else []
