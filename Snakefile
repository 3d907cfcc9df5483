# diffglat: the paper's experiments as a Snakemake workflow.
#   snakemake --cores 2                                  default config (CPU scale), writes the PDF report
#   snakemake --cores 2 --configfile config/smoke.yaml   tiny smoke run (CI)
# Every rule calls one `diffglat` subcommand, so each step also runs by hand. profiles/default
# (loaded by plain `snakemake`) prints a failing job's log and reruns incomplete jobs.

from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from diffglat.cli.families import model_args_schemas
from diffglat.config import ConfigError, read_yaml, resolve, section_hash, write_config

min_version("9.27")


configfile: "config/config.yaml"


# The whole config, model_args included, is checked before any job: each error names the key and
# the file that set it. The benchmark registry and the schema's defaults are merged in.
try:
    # (Snakemake hands the --configfile paths over absolute: those inside this folder are named relative)
    CONFIG_FILES = [
        str(Path(f).resolve().relative_to(Path.cwd())) if Path(f).resolve().is_relative_to(Path.cwd()) else f
        for f in ["config/config.yaml", *workflow.overwrite_configfiles]
    ]
    CONFIG_SOURCES = [(f, read_yaml(f)) for f in CONFIG_FILES]
    RESOLVED = resolve(config, CONFIG_SOURCES, model_args_schemas())
except ConfigError as err:
    raise WorkflowError(str(err))
config.clear()
config.update(RESOLVED)

DATA = config["paths"]["data"]
RESULTS = config["paths"]["results"]
REPORTS = config["paths"]["reports"]
# The merged, validated config that every rule's command reads: written when jobs are about to run
# (not by --dry-run or --lint), and only when it changed.
RESOLVED_CONFIG = f"{RESULTS}/config.resolved.yaml"


onstart:
    write_config(config, RESOLVED_CONFIG)


# Rules run `python -m diffglat` from this checkout, inside the venv or a conda env alike.
shell.prefix(f"export PYTHONPATH={workflow.basedir}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; ")


include: "workflow/rules/common.smk"
include: "workflow/rules/synthetic.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/translate.smk"
include: "workflow/rules/plan.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        rules.report.output,
        expand(rules.prepare.output.stats, benchmark=PREPARED_BENCHMARKS),
