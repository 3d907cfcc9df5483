# diffglat: the paper's experiments as a Snakemake workflow.
#   snakemake --cores 2                                  default config (CPU scale), writes the PDF report
#   snakemake --cores 2 --configfile config/smoke.yaml   tiny smoke run (CI)
# Every rule calls one `diffglat` subcommand, so each step also runs by hand.

from snakemake.exceptions import WorkflowError

from diffglat.config import ConfigError, section_hash, validate, write_config


configfile: "config/config.yaml"


try:
    validate(config)
except ConfigError as err:
    raise WorkflowError(str(err))

DATA = config["paths"]["data"]
RESULTS = config["paths"]["results"]
REPORTS = config["paths"]["reports"]
# The merged, validated config that every rule's command reads.
RESOLVED_CONFIG = f"{RESULTS}/config.resolved.yaml"
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
    input:
        rules.report.output,
        expand(rules.prepare.output.stats, benchmark=PREPARED_BENCHMARKS),
    default_target: True
