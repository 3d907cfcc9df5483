# The report: tidy tables, LaTeX tables, figures and the PDF, from result files only. Like every
# job it runs wherever the executor sends it (on a cluster: a compute node, through sbatch).


from diffglat.report import report_outputs

# The same helper names the files for the report when it writes them.
REPORT_OUTPUTS = report_outputs(config)


localrules:
    report,


rule report:
    input:
        stats=rules.synthetic_data.output.stats,
        scores=expand(rules.synthetic_evaluate.output.scores, experiment=SYNTHETIC_EXPERIMENTS),
        data_stats=expand(rules.prepare.output.stats, benchmark=PREPARED_BENCHMARKS),
        translation=study_scores(),
        plan=rules.plan.output,
    output:
        **REPORT_OUTPUTS,
    log:
        f"{RESULTS}/logs/report.log",
    conda:
        "../envs/diffglat.yaml"
    threads: step_threads("report")
    resources:
        **step_resources("report"),
    params:
        config=RESOLVED_CONFIG,
    shell:
        f"{LOGGED} {{log}} python -m diffglat report --config {{params.config}}"
