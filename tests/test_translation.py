"""The translation study's pieces: validation-driven checkpoint keeping and averaging, scoring, config checks."""

import copy
import csv

import pytest
import torch

from diffglat.config import ConfigError, load_config, validate
from diffglat.metrics.mt import corpus_scores
from diffglat.training import Plateau, Trainer, TrainSettings, load_checkpoint, seed_everything
from diffglat.training.checkpoint import average_checkpoints, save_atomic
from diffglat.cli.synthetic import synthetic_loss

from helpers import tiny_dataset, tiny_model

SETTINGS = dict(max_tokens=96, lr=1e-3, warmup_steps=4, clip_norm=1.0, weight_decay=0.0,
                label_smoothing=0.1, checkpoint_every=2, log_every=1, seed=5)


class ScriptedValidator:
    """Returns the next score of a script and remembers the model's weights at each call."""

    def __init__(self, scores):
        self.scores, self.weights = list(scores), []

    def __call__(self, model):
        self.weights.append({k: v.clone() for k, v in model.state_dict().items()})
        return self.scores.pop(0)


def make_trainer(out_dir, max_steps, validator, keep_best, plateau=None):
    dataset, _, d = tiny_dataset(64)
    seed_everything(5)
    model = tiny_model("nat", d)
    loss = synthetic_loss({"model": "nat"}, 2, 0.1, d.pad)
    return Trainer(model, loss, dataset, TrainSettings(max_steps=max_steps, **SETTINGS), out_dir, torch.device("cpu"),
                   "f", show_progress=False, validator=validator, validate_every=2, keep_best=keep_best,
                   plateau=plateau)


def test_the_best_checkpoints_by_validation_score_are_kept(tmp_path):
    validator = ScriptedValidator([1.0, 5.0, 3.0, 4.0, 2.0])  # steps 2, 4, 6, 8, 10
    trainer = make_trainer(tmp_path, 10, validator, keep_best=2)
    trainer.train()
    assert trainer.best_steps() == [4, 8]
    assert sorted(p.name for p in (tmp_path / "checkpoints" / "best").iterdir()) == ["step4.pt", "step8.pt"]
    kept = load_checkpoint(tmp_path / "checkpoints" / "best" / "step8.pt")
    assert all(torch.equal(kept[k], validator.weights[3][k]) for k in kept)
    rows = list(csv.DictReader((tmp_path / "valid_log.csv").open()))
    assert [(int(r["step"]), float(r["score"])) for r in rows] == [(2, 1.0), (4, 5.0), (6, 3.0), (8, 4.0), (10, 2.0)]


def test_validation_history_survives_a_resume(tmp_path):
    make_trainer(tmp_path, 6, ScriptedValidator([1.0, 5.0, 3.0]), keep_best=2).train()
    resumed = make_trainer(tmp_path, 10, ScriptedValidator([4.0, 2.0]), keep_best=2)
    resumed.train()
    assert [v["step"] for v in resumed.validations] == [2, 4, 6, 8, 10]
    assert resumed.best_steps() == [4, 8]


def test_plateau_rule_on_known_score_sequences():
    rule = Plateau(patience=2, min_gain=0.5)
    assert not rule.reached([1.0, 1.0])  # not enough history
    assert not rule.reached([1.0, 3.0, 1.0])  # the last two hold a gain of 2 over the best before
    assert rule.reached([1.0, 3.0, 3.4, 2.0])  # best before the last two 3.0; they reach 3.4 < 3.5
    assert not rule.reached([1.0, 3.0, 3.5, 2.0])  # a gain of exactly min_gain counts as climbing
    assert rule.reached([5.0, 1.0, 2.0])  # falling counts as flat


def test_training_stops_at_the_plateau_and_a_rerun_stays_stopped(tmp_path):
    scores = [1.0, 4.0, 4.1, 3.0, 9.0, 9.0]  # steps 2..12: climbing until step 4, flat over 6 and 8
    trainer = make_trainer(tmp_path, 12, ScriptedValidator(scores), keep_best=2, plateau=Plateau(2, 0.5))
    trainer.train()  # returns normally: a plateau is not a preemption
    assert (trainer.step, trainer.plateau_step) == (8, 8)
    assert [v["step"] for v in trainer.validations] == [2, 4, 6, 8]
    assert trainer.best_steps() == [6, 4]
    assert trainer.epochs_trained() > 0
    rerun = make_trainer(tmp_path, 12, ScriptedValidator([]), keep_best=2, plateau=Plateau(2, 0.5))
    rerun.train()  # resumes the stopped run: nothing more to train
    assert (rerun.step, rerun.plateau_step) == (8, 8)
    looser = make_trainer(tmp_path, 12, ScriptedValidator([9.0, 9.5]), keep_best=2, plateau=Plateau(3, 0.5))
    looser.train()  # a rule the history does not meet resumes the run (the rule is not in the fingerprint)
    assert (looser.step, looser.plateau_step) == (12, None)
    late = make_trainer(tmp_path / "late", 12, ScriptedValidator([1.0, 4.0, 4.1, 3.0, 4.2, 9.0]), keep_best=2,
                        plateau=Plateau(2, 0.5, min_steps=10))
    late.train()  # flat from step 8, but no stop before min_steps
    assert (late.step, late.plateau_step) == (10, 10)
    without = make_trainer(tmp_path / "all", 12, ScriptedValidator(scores), keep_best=2)
    without.train()
    assert (without.step, without.plateau_step) == (12, None)


def test_checkpoint_average_is_the_elementwise_mean(tmp_path):
    states = [{"w": torch.full((2, 3), float(i)), "count": torch.tensor(7 + i)} for i in (1, 2, 6)]
    paths = []
    for i, state in enumerate(states):
        paths.append(tmp_path / f"s{i}.pt")
        save_atomic(state, paths[-1])
    average = average_checkpoints(paths)
    assert torch.equal(average["w"], torch.full((2, 3), 3.0))
    assert average["count"].item() == 8  # integer buffers come from the first (best) checkpoint
    with pytest.raises(ValueError):
        average_checkpoints([])


def test_bleu_known_values():
    perfect = corpus_scores(["Ein Mann läuft ."], ["Ein Mann läuft ."], "de")
    assert perfect["bleu"] == pytest.approx(100.0) and perfect["chrf"] == pytest.approx(100.0)
    # 4 hypothesis tokens, 2 reference tokens: all n-grams of the reference match, brevity is fine,
    # so BLEU = geometric mean of the precisions 2/4, 1/3 and the smoothed 3- and 4-grams.
    half = corpus_scores(["a b c d"], ["a b"], "en")
    assert half["bleu_details"]["precisions"][:2] == pytest.approx([50.0, 100 / 3])
    assert half["bleu"] < 50
    assert "tok:13a" in half["bleu_signature"]
    assert "tok:zh" in corpus_scores(["我们"], ["我们"], "zh")["bleu_signature"]
    with pytest.raises(ValueError):
        corpus_scores(["a"], ["a", "b"], "en")


def default_config(repo):
    return load_config([repo / "config" / "config.yaml"])


def test_translation_config_errors_name_the_key(repo):
    config = default_config(repo)
    broken = copy.deepcopy(config)
    broken["translation"]["experiments"]["ar"]["size"] = "huge"
    broken["translation"]["sizes"]["base"]["heads"] = 3
    with pytest.raises(ConfigError) as err:
        validate(broken)
    message = str(err.value)
    assert "translation.experiments.ar.size" in message
    assert "translation.sizes.base.heads" in message
    for parent, problem in (("nope", "is not one of"), ("ar", "not fewer than")):
        branched = copy.deepcopy(config)
        branched["translation"]["experiments"]["ctc"]["branch_from"] = parent
        with pytest.raises(ConfigError, match=f"translation.experiments.ctc.branch_from: .*{problem}"):
            validate(branched)


def test_every_scale_defines_every_size_its_experiments_use(repo):
    for extra in ([], ["smoke.yaml"], ["paper.yaml"]):
        config = load_config([repo / "config" / "config.yaml", *(repo / "config" / e for e in extra)])
        for study in (config["translation"], config["paraphrase"]):
            assert {e["size"] for e in study["experiments"].values()} <= set(study["sizes"])


def test_the_studies_benchmarks_are_prepared_too(repo):
    from diffglat.data.benchmarks import selected_benchmarks

    config = default_config(repo)
    config["prepare"]["benchmarks"] = ["news_mini_en_de"]
    assert selected_benchmarks(config) == ["news_mini_en_de", "multi30k_en_de", "qqp"]
    config["translation"]["benchmarks"] = ["multi30k_en_de", "no_such"]
    with pytest.raises(ConfigError, match=r"translation.benchmarks\[1\]"):
        selected_benchmarks(config)


def test_a_branch_continues_exactly_where_its_parent_stopped(tmp_path):
    straight = make_trainer(tmp_path / "straight", 8, ScriptedValidator([1.0] * 4), keep_best=1)
    straight.train()
    parent = make_trainer(tmp_path / "parent", 4, ScriptedValidator([1.0] * 2), keep_best=1)
    parent.train()
    branch = make_trainer(tmp_path / "branch", 8, ScriptedValidator([1.0] * 2), keep_best=1)
    branch.branch_from = tmp_path / "parent" / "checkpoints" / "last.pt"
    branch.train()
    for p, q in zip(straight.model.parameters(), branch.model.parameters()):
        assert torch.equal(p, q)
    assert [v["step"] for v in branch.validations] == [6, 8]  # its own validations only
    assert branch.branched_seconds == parent.elapsed and branch.elapsed > parent.elapsed
    # Rerun: the branch resumes from its own checkpoint, not the parent's.
    again = make_trainer(tmp_path / "branch", 8, ScriptedValidator([]), keep_best=1)
    again.branch_from = branch.branch_from
    again.train()
    assert again.step == 8 and again.branched_seconds == parent.elapsed
