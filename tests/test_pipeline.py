"""The Snakemake workflow end to end at smoke scale, in a scratch copy of the workflow."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import fault_injection  # noqa: E402  (scripts/ is not a package)
import readme_figures  # noqa: E402

pytestmark = pytest.mark.pipeline


def workflow_copy(repo: Path, tmp_path: Path) -> Path:
    assert repo == fault_injection.REPO
    return fault_injection.workflow_copy(tmp_path)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    """One uninterrupted smoke run, the reference of the tests that run it again."""
    work = fault_injection.workflow_copy(tmp_path_factory.mktemp("smoke"))
    run = snakemake(work, "--configfile", "config/smoke.yaml")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return work


def snakemake(work: Path, *args, **popen):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    if popen:
        return subprocess.Popen(command, cwd=work, env=env, start_new_session=True, **popen)
    return subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)


def test_lint_is_clean(repo, tmp_path):
    run = snakemake(workflow_copy(repo, tmp_path), "--lint")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Congratulations" in run.stdout + run.stderr


def test_dry_run_lists_every_rule_and_writes_nothing(repo, tmp_path):
    work = workflow_copy(repo, tmp_path)
    run = snakemake(work, "-n")
    assert run.returncode == 0, run.stderr
    for rule in ("synthetic_data", "synthetic_train", "synthetic_evaluate", "translate_train", "translate_evaluate",
                 "report", "all"):
        assert f"rule {rule}:" in run.stdout + run.stderr
    # plain `snakemake` loads the workflow's default profile (profiles/ beside the Snakefile)
    assert "Using workflow specific profile profiles/default" in run.stdout + run.stderr
    assert not (work / "results").exists()  # the resolved config is written only when jobs run


@pytest.mark.parametrize("bad, key, message", [
    ({"ctc": {"model_args": {"upsampel": 2}}}, "translation.experiments.ctc.model_args.upsampel", "unknown key"),
    ({"glat": {"model_args": {"glance_start": 1.5}}}, "translation.experiments.glat.model_args.glance_start",
     "greater than the maximum of 1"),
    ({"dat": {"model": "dta"}}, "translation.experiments.dat.model", "is not one of"),
])
def test_dry_run_rejects_a_bad_model_argument_naming_key_and_file(repo, tmp_path, bad, key, message):
    work = workflow_copy(repo, tmp_path)
    (work / "config" / "bad.yaml").write_text(json.dumps({"translation": {"experiments": bad}}))
    run = snakemake(work, "-n", "--configfile", "config/bad.yaml")
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert key in out and message in out and "[set in config/bad.yaml]" in out, out
    assert "rule " not in out and not (work / "results").exists()  # before any job


def test_a_failing_job_shows_its_own_error_on_the_console(repo, tmp_path):
    """profiles/default (show-failed-logs) prints the job's log: here prepare's error on a corpus
    whose sides differ in length, naming both files."""
    work = workflow_copy(repo, tmp_path)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "train.en").write_text("a b\nc d\n")
    (corpus / "train.de").write_text("a b\n")
    for split in ("valid", "test"):
        (corpus / f"{split}.en").write_text("a b\n")
        (corpus / f"{split}.de").write_text("a b\n")
    entry = {"source": "en", "target": "de", "train": [str(corpus / "train")], "valid": [str(corpus / "valid")],
             "test": {"test": [str(corpus / "test")]}, "vocab_size": 300}
    (work / "config" / "broken.yaml").write_text(json.dumps({"benchmarks": {"broken_en_de": entry},
                                                             "prepare": {"benchmarks": ["broken_en_de"]}}))
    run = snakemake(work, "data/smoke/prepared/broken_en_de/stats.json",
                    "--configfile", "config/smoke.yaml", "config/broken.yaml")
    error = f"line counts differ: {corpus / 'train.en'} has 2 lines, {corpus / 'train.de'} has 1"
    assert run.returncode != 0 and error in run.stdout + run.stderr, run.stdout + run.stderr
    # without the profile Snakemake says only "check log file(s)": the profile is what prints it
    bare = snakemake(work, "data/smoke/prepared/broken_en_de/stats.json", "--workflow-profile", "none",
                     "--configfile", "config/smoke.yaml", "config/broken.yaml")
    assert bare.returncode != 0 and error not in bare.stdout + bare.stderr


def test_smoke_pipeline_produces_report(smoke_run):
    work = smoke_run
    reports = work / "reports" / "smoke"
    assert (reports / "diffglat-report.pdf").read_bytes().startswith(b"%PDF")
    for name in ("table1", "table2"):
        rows = list(csv.DictReader((reports / "tables" / f"{name}.csv").open()))
        assert rows and set(rows[0]) == {"table", "row", "column", "paper", "reproduced", "scale"}
        assert all(r["reproduced"] for r in rows) and all(r["scale"] == "smoke" for r in rows)
        assert (reports / "tables" / f"{name}.tex").read_text().count("\\toprule") == 1
    for ext in ("pdf", "png", "csv"):
        assert (reports / "figures" / f"figure2.{ext}").stat().st_size > 0
    # Table 3: every translation experiment of the smoke config that the paper's table names has a score.
    table3 = list(csv.DictReader((reports / "tables" / "table3.csv").open()))
    reproduced = {r["row"]: r["reproduced"] for r in table3}
    assert reproduced["Transformer base"] and reproduced["DAT (Joint-Viterbi)"] and reproduced["CTC"]
    scores = json.loads((work / "results" / "smoke" / "multi30k_en_de" / "ar" / "test_2016_flickr.main.scores.json").read_text())
    assert scores["bleu_signature"].startswith("nrefs:1|case:mixed") and scores["sentences"] == 1000
    assert len(scores["training"]["averaged_steps"]) == 2  # translation.validate.keep_best in smoke.yaml
    # Table 5: the three paraphrase models on QQP, with the COCO tools' scores; captioning left out
    # (no MS-COCO offline), its paper values kept and the reason in the table.
    table5 = {(r["row"], r["column"]): r for r in csv.DictReader((reports / "tables" / "table5.csv").open())}
    for row in ("Transformer", "DAT", "DiffGLAT"):
        assert table5[row, "qqp BLEU-4"]["reproduced"] and table5[row, "qqp ROUGE-L"]["reproduced"]
        assert table5[row, "mscoco CIDEr"]["paper"] and table5[row, "mscoco CIDEr"]["reproduced"] == ""
    assert "not run: MS-COCO features not found at benchmarks.mscoco.images.features" in (
        reports / "tables" / "table5.tex").read_text()
    assert not (work / "results" / "smoke" / "mscoco").exists()
    qqp = json.loads((work / "results" / "smoke" / "qqp" / "ar" / "qqp_test.main.scores.json").read_text())
    assert qqp["study"] == "paraphrase" and qqp["sentences"] == 2500 and set(qqp["coco"]) == {"bleu4", "rouge_l"}
    # The references are valid targets by construction: the DATA column must read 100.
    data = [r for r in csv.DictReader((reports / "tables" / "table2.csv").open()) if r["column"] == "DATA"]
    assert [r["reproduced"] for r in data] == ["100.0", "100.0"]
    # Nothing to do on a second run.
    again = snakemake(work, "--configfile", "config/smoke.yaml", "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_two_runs_of_the_smoke_config_give_identical_results(smoke_run, tmp_path):
    """Scores, hypotheses, weights, training logs and table CSVs, all but timings and provenance."""
    work = workflow_copy(fault_injection.REPO, tmp_path)
    run = snakemake(work, "--configfile", "config/smoke.yaml")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    expected = fault_injection.results(smoke_run)
    assert len(expected) > 100 and fault_injection.differences(expected, fault_injection.results(work)) == []


def machine(summary: dict) -> tuple:
    """What a run's numbers depend on besides the code: CPU model and cores (not the kernel
    release), training precisions, torch version."""
    return ([h.split("), ")[0] for h in summary["hardware"]], summary["precisions"], summary["libraries"]["torch"])


def test_the_smoke_run_reproduces_its_record(smoke_run):
    """docs/runs/smoke.json, the run the README quotes for this config, is what a fresh run gives."""
    summary = json.loads((smoke_run / fault_injection.REPORTS / "summary.json").read_text())
    record = json.loads((readme_figures.RECORDS / "smoke.json").read_text())
    if machine(summary) != machine(record):
        pytest.skip(f"the record was measured on {machine(record)}, this is {machine(summary)}")
    wrong, _ = readme_figures.differences(summary, record)
    assert not wrong, ("the smoke run no longer gives its record's figures; if the change means to change them, "
                       "run the smoke config and `python scripts/readme_figures.py record reports/smoke/summary.json "
                       "smoke`:\n" + "\n".join(wrong))


def test_random_kills_leave_nothing_half_written_and_the_reruns_end_as_an_uninterrupted_run(smoke_run, tmp_path):
    """scripts/fault_injection.py with 5 kills (by hand: 30 and more, see the README)."""
    said = []
    status = fault_injection.inject(kills=5, per_trial=5, seed=7, scratch=tmp_path, reference=smoke_run, say=said.append)
    assert status == 0, "\n".join(said)
    assert said[-1] == "fault injection: 5 kills tried, 5 survived (seed 7)", "\n".join(said)


def test_a_truncated_model_is_named_set_aside_and_rebuilt_by_the_rerun(repo, tmp_path):
    work = workflow_copy(repo, tmp_path)
    nar = Path("results/smoke/synthetic/nar")
    target = ("--configfile", "config/smoke.yaml")
    assert snakemake(work, str(nar / "test.scores.json"), *target).returncode == 0
    before = json.loads((work / nar / "test.scores.json").read_text())
    model = work / nar / "model.pt"
    model.write_bytes(model.read_bytes()[:1000])
    failed = snakemake(work, str(nar / "test.scores.json"), *target)
    out = failed.stdout + failed.stderr
    assert failed.returncode != 0 and f"diffglat: error: {nar / 'model.pt'} is corrupt (" in out, out
    assert "moved it to model.pt.corrupt: rerun the workflow" in out and "Traceback" not in out
    rerun = snakemake(work, str(nar / "test.scores.json"), *target)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert fault_injection.stable(json.loads((work / nar / "test.scores.json").read_text())) == fault_injection.stable(before)
    log = (work / "results/smoke/logs/synthetic_evaluate_nar.log").read_text()
    assert log.count(" started (") == 3 and "the previous run ended: exit status 2, an error" in log


def training_process(snakemake_process, experiment):
    """The python process training `experiment` (not the workflow/scripts/logged wrapper around it,
    whose SIGKILL would leave the training running)."""
    for job in fault_injection.jobs(psutil.Process(snakemake_process.pid)):
        try:
            command = job.cmdline()
        except psutil.NoSuchProcess:
            continue
        if "train" in command and command[-1] == experiment:
            return job
    return None


def test_sigkill_during_training_then_rerun_resumes(repo, tmp_path):
    """The training process dies by SIGKILL (e.g. the OOM killer); the same command resumes it."""
    work = workflow_copy(repo, tmp_path)
    (work / "config" / "long.yaml").write_text("synthetic:\n  train: {max_steps: 400, checkpoint_every: 20}\n")
    args = ("--configfile", "config/smoke.yaml", "config/long.yaml")
    results = work / "results" / "smoke" / "synthetic" / "nar"
    # The first run asks for the synthetic model only, so its training starts at once.
    # (The target goes before --configfile, which takes every path after it as a config file.)
    process = snakemake(work, str(results.relative_to(work) / "model.pt"), *args,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, victim = time.time() + 240, None
    while time.time() < deadline and process.poll() is None:
        victim = training_process(process, "nar")
        if victim is not None and (results / "checkpoints" / "last.pt").is_file():
            break
        time.sleep(0.1)
    assert victim is not None and process.poll() is None, "training finished before it could be killed"
    victim.send_signal(signal.SIGKILL)
    assert process.wait(timeout=300) != 0
    assert not (results / "model.pt").exists()

    run = snakemake(work, str(results.relative_to(work) / "test.scores.json"), *args)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    log = (work / "results" / "smoke" / "logs" / "synthetic_train_nar.log").read_text()
    # the killed run's output, then the marker, then the resumed run
    killed, resumed = log.split("rerun; the previous run ended: exit status 137, killed by signal 9")
    assert " started (" in killed and "resuming" not in killed
    assert "resuming from checkpoint" in resumed and "ended: exit status 0, finished" in resumed
    steps = [int(r["step"]) for r in csv.DictReader((results / "train_log.csv").open())]
    assert steps == sorted(set(steps)) and steps[-1] == 400
    scores = json.loads((results / "test.scores.json").read_text())
    assert scores["training"]["steps"] == 400
