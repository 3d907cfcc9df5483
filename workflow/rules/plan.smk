# The cost plan (`diffglat plan`): training runs, device-hours and tokens per paper item, for this
# run's config (throughput measured from its train logs) and for paper scale (config/paper.yaml,
# the config's throughput figures), so the report says what each one costs.

PAPER_SCALE_CONFIGS = ["config/config.yaml", "config/paper.yaml"]


localrules:
    plan,


rule plan:
    input:
        paper=PAPER_SCALE_CONFIGS,
        # this run's plan reads each run's throughput from its train log
        trained=expand(rules.synthetic_train.output, experiment=SYNTHETIC_EXPERIMENTS) + study_models(),
    output:
        run=f"{RESULTS}/plan/run.json",
        paper=f"{RESULTS}/plan/paper.json",
    log:
        f"{RESULTS}/logs/plan.log",
    conda:
        "../envs/diffglat.yaml"
    threads: step_threads("default")
    resources:
        **step_resources("default"),
    params:
        config=RESOLVED_CONFIG,
        stamp=section_hash(config),
    shell:
        f"{LOGGED} {{log}} sh -c 'python -m diffglat plan --config {{params.config}} --measured --json {{output.run}}"
        " && python -m diffglat plan --config {input.paper} --json {output.paper}'"
