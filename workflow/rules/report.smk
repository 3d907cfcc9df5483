# The report: tidy tables, LaTeX tables, figures and the PDF, from result files only. Like every
# job it runs wherever the executor sends it (on a cluster: a compute node, through sbatch).


localrules:
    report,


rule report:
    input:
        stats=rules.synthetic_data.output.stats,
        scores=expand(rules.synthetic_evaluate.output.scores, experiment=SYNTHETIC_EXPERIMENTS),
        data_stats=expand(rules.prepare.output.stats, benchmark=PREPARED_BENCHMARKS),
        translation=translation_scores(),
        plan=rules.plan.output,
    output:
        pdf=f"{REPORTS}/diffglat-report.pdf",
        tables=expand(f"{REPORTS}/tables/table{{n}}.{{ext}}", n=[1, 2, 3, 6, 8], ext=["csv", "tex"]),
        data_stats=f"{REPORTS}/tables/data_stats.csv",
        figures=expand(f"{REPORTS}/figures/figure{{n}}.{{ext}}", n=[2, 5, 6, 8, 9, 10], ext=["pdf", "png", "csv"]),
    params:
        config=RESOLVED_CONFIG,
    log:
        f"{RESULTS}/logs/report.log",
    threads: step_threads("report")
    resources:
        **step_resources("report"),
    conda:
        "../envs/diffglat.yaml"
    shell:
        "python -m diffglat report --config {params.config} > {log} 2>&1"
