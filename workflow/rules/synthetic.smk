# Synthetic four-modality study (paper §2.2, Tables 1-2, Figure 2).

SYNTHETIC_EXPERIMENTS = sorted(config["synthetic"]["experiments"])


wildcard_constraints:
    experiment="|".join(SYNTHETIC_EXPERIMENTS),


localrules:
    synthetic_data,


rule synthetic_data:
    output:
        train=f"{DATA}/synthetic/train.tsv",
        valid=f"{DATA}/synthetic/valid.tsv",
        test=f"{DATA}/synthetic/test.tsv",
        stats=f"{DATA}/synthetic/stats.json",
    log:
        f"{RESULTS}/logs/synthetic_data.log",
    conda:
        "../envs/diffglat.yaml"
    threads: step_threads("default")
    resources:
        **step_resources("default"),
    params:
        config=RESOLVED_CONFIG,
        stamp=config_stamp("synthetic", "data"),
    shell:
        f"{LOGGED} {{log}} python -m diffglat synthetic data --config {{params.config}}"


rule synthetic_train:
    input:
        rules.synthetic_data.output.train,
    output:
        f"{RESULTS}/synthetic/{{experiment}}/model.pt",
    log:
        f"{RESULTS}/logs/synthetic_train_{{experiment}}.log",
    conda:
        "../envs/diffglat.yaml"
    threads: step_threads("synthetic_train")
    resources:
        **step_resources("synthetic_train"),
    params:
        config=RESOLVED_CONFIG,
        stamp=lambda w: section_hash(
            [config["synthetic"][k] for k in ("model", "train")] + [config["synthetic"]["experiments"][w.experiment]]
        ),
        python=python_launcher(step_resources("synthetic_train")["gpu"]),
    shell:
        f"{LOGGED} {{log}} {{params.python}} -m diffglat synthetic train --config {{params.config}} --experiment {{wildcards.experiment}}"


rule synthetic_evaluate:
    input:
        model=rules.synthetic_train.output,
        test=rules.synthetic_data.output.test,
    output:
        scores=f"{RESULTS}/synthetic/{{experiment}}/test.scores.json",
        hypotheses=f"{RESULTS}/synthetic/{{experiment}}/test.hyp",
    log:
        f"{RESULTS}/logs/synthetic_evaluate_{{experiment}}.log",
    conda:
        "../envs/diffglat.yaml"
    threads: step_threads("default")
    resources:
        **step_resources("default"),
    params:
        config=RESOLVED_CONFIG,
    shell:
        f"{LOGGED} {{log}} python -m diffglat synthetic evaluate --config {{params.config}} --experiment {{wildcards.experiment}}"
