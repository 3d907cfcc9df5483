# Machine translation (paper §4) and paraphrasing (Table 5): one training job per (benchmark,
# experiment of the benchmark's study), one evaluation job per decoding variant of it ("main" = the
# experiment's decode settings).

STUDY_EXPERIMENTS = sorted({experiment for study in STUDIES for experiment in config[study]["experiments"]})


wildcard_constraints:
    mt_experiment="|".join(STUDY_EXPERIMENTS),
    variant="[A-Za-z0-9_]+",
    testset="[A-Za-z0-9_]+",


rule translate_train:
    input:
        rules.prepare.output.stats,
        branch_parent,
    output:
        f"{RESULTS}/{{benchmark}}/{{mt_experiment}}/model.pt",
    log:
        f"{RESULTS}/logs/translate_train_{{benchmark}}_{{mt_experiment}}.log",
    conda:
        "../envs/diffglat.yaml"
    threads: step_threads("translate_train")
    resources:
        **step_resources("translate_train"),
    params:
        config=RESOLVED_CONFIG,
        stamp=lambda w: experiment_stamp(w.benchmark, w.mt_experiment),
        python=python_launcher(step_resources("translate_train")["gpu"]),
    shell:
        f"{LOGGED} {{log}} {{params.python}} -m diffglat translate train --config {{params.config}} --benchmark {{wildcards.benchmark}} "
        "--experiment {wildcards.mt_experiment}"


rule translate_evaluate:
    input:
        rules.translate_train.output,
    output:
        scores=f"{RESULTS}/{{benchmark}}/{{mt_experiment}}/{{testset}}.{{variant}}.scores.json",
        hypotheses=f"{RESULTS}/{{benchmark}}/{{mt_experiment}}/{{testset}}.{{variant}}.hyp",
    log:
        f"{RESULTS}/logs/translate_evaluate_{{benchmark}}_{{mt_experiment}}_{{testset}}_{{variant}}.log",
    conda:
        "../envs/diffglat.yaml"
    threads: step_threads("default")
    resources:
        **step_resources("default"),
    params:
        config=RESOLVED_CONFIG,
        stamp=lambda w: experiment_stamp(w.benchmark, w.mt_experiment),
        # evaluation only: a change of the study's COCO metrics rescores, it does not retrain
        metrics=lambda w: config[study_of(config, w.benchmark)]["coco_metrics"],
    shell:
        f"{LOGGED} {{log}} python -m diffglat translate evaluate --config {{params.config}} --benchmark {{wildcards.benchmark}} "
        "--experiment {wildcards.mt_experiment} --variant {wildcards.variant}"
