"""DiffGLAT criteria: the base family's loss on the transitions the model trained this step (one, or
all of them during a warm-up on y0, averaged), against the intermediate target ỹ_{t-1} the model
built (`output.target`) instead of the data target.

The model (models/diffglat.py) samples the transition and builds ỹ and the glancing; the loss is
exactly the base family's: the DAG loss with the glanced vertices force-aligned (DiffGLAT), CTC
over the whole target (DiffGLAT-CTC; CTC cannot drop glanced frames, as for GLAT+CTC), and
label-smoothed cross-entropy without the glanced positions plus the length loss (DiffGLAT-GLAT).
"""

from __future__ import annotations

from ..data.dictionary import Dictionary
from .cross_entropy import LayerwiseCrossEntropy
from .ctc import CTCCriterion
from .dag import DagCriterion
from .length import WithLengthLoss


class IntermediateTargetLoss:
    layers: tuple[int, ...] = ()  # nothing to request: the model picks the transition it trains

    def __init__(self, criterion_for, batch_targets):
        """criterion_for: output key -> the family criterion reading that key;
        batch_targets: ỹ [B, n] -> the batch entries that criterion reads its target from."""
        self.criterion_for, self.batch_targets = criterion_for, batch_targets

    def __call__(self, output, batch: dict):
        batch = {**batch, **self.batch_targets(output.target)}
        results = [self.criterion_for(key)(output, batch) for key in sorted(output.logits_at)]
        loss = sum(loss for loss, _ in results) / len(results)
        values: dict[str, list[float]] = {}
        for _, result_stats in results:  # a key per layer (nll_<k>) or shared (infeasible): average what exists
            for key, value in result_stats.items():
                values.setdefault(key, []).append(value)
        stats = {key: sum(v) / len(v) for key, v in values.items()}
        stats["loss"] = float(loss.detach())
        # the trainer averages `window/` stats over its log window (training/trainer.py)
        for transition, fraction in output.diffusion_stats.items():
            stats[f"window/differ_t{transition}/sum"] = fraction
            stats[f"window/differ_t{transition}/n"] = 1.0
        return loss, stats


def diffglat_dag(model, settings: dict) -> IntermediateTargetLoss:
    """ỹ is BOS y EOS (models.diffglat.DiffGLAT.diffusion_target): DagCriterion reads y EOS."""
    return IntermediateTargetLoss(lambda key: DagCriterion(key, Dictionary.pad, Dictionary.bos),
                                  lambda target: {"tgt_eos": target[:, 1:]})


def diffglat_ctc(model, settings: dict) -> IntermediateTargetLoss:
    return IntermediateTargetLoss(lambda key: CTCCriterion(key, Dictionary.blank), lambda target: {"tgt": target})


def diffglat_cross_entropy(model, settings: dict) -> IntermediateTargetLoss:
    """Plus length_loss_weight (default 0.1) x the length cross-entropy, as for NAT/GLAT."""
    def criterion_for(key):
        tokens = LayerwiseCrossEntropy({key: "tgt"}, settings["label_smoothing"], Dictionary.pad)
        return WithLengthLoss(tokens, model.length, settings.get("length_loss_weight", 0.1), Dictionary.pad)

    return IntermediateTargetLoss(criterion_for, lambda target: {"tgt": target})
