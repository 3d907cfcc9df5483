# Translation and paraphrase data (paper §4.1, appendix H): one `diffglat prepare` job per benchmark
# the config selects (prepare.benchmarks and the studies' benchmarks). Its stats.json is written last, so it marks a complete folder.

from diffglat.data.benchmarks import preparation_inputs, prepared_dir, resolve_benchmark, selected_benchmarks

# Every corpus file is checked now, before any job runs: a missing one stops the workflow with
# its config key (and, for the paper's corpora, what to put there).
try:
    PREPARED_BENCHMARKS = selected_benchmarks(config)
    BENCHMARK_FILES = {name: [str(f) for f in resolve_benchmark(config, name).files] for name in PREPARED_BENCHMARKS}
except ConfigError as err:
    raise WorkflowError(str(err))


wildcard_constraints:
    benchmark="|".join(sorted(config["benchmarks"])),


rule prepare:
    input:
        lambda w: BENCHMARK_FILES[w.benchmark],
    output:
        stats=str(prepared_dir(config, "{benchmark}") / "stats.json"),
    log:
        f"{RESULTS}/logs/prepare_{{benchmark}}.log",
    conda:
        "../envs/diffglat.yaml"
    threads: step_threads("prepare")
    resources:
        **step_resources("prepare"),
    params:
        config=RESOLVED_CONFIG,
        stamp=lambda w: section_hash(preparation_inputs(config, w.benchmark)),
    shell:
        f"{LOGGED} {{log}} python -m diffglat prepare --config {{params.config}} --benchmark {{wildcards.benchmark}} --threads {{threads}}"
