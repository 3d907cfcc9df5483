"""Criteria: (DecoderOutput, batch) -> (scalar loss, stats dict).

`CRITERIA[kind](model, settings)` builds the criterion a model family trains with; settings are
the experiment's `loss` config (label_smoothing and any family-specific keys). Every criterion
has `.layers`, the decoder layers whose outputs it reads (the model is asked for exactly those).
"""

from __future__ import annotations

from ..data.dictionary import Dictionary
from .cross_entropy import LayerwiseCrossEntropy
from .ctc import CTCCriterion
from .dag import DagCriterion
from .diffglat import diffglat_cross_entropy, diffglat_ctc, diffglat_dag
from .length import WithLengthLoss


def _last_layer(model) -> int:
    return len(model.decoder)


def _with_length_loss(model, settings: dict) -> WithLengthLoss:
    """NAT/GLAT: last layer vs target, plus length_loss_weight (default 0.1) x the length cross-entropy."""
    tokens = LayerwiseCrossEntropy({_last_layer(model): "tgt"}, settings["label_smoothing"], Dictionary.pad)
    return WithLengthLoss(tokens, model.length, settings.get("length_loss_weight", 0.1), Dictionary.pad)


CRITERIA = {
    "ar": lambda model, s: LayerwiseCrossEntropy({_last_layer(model): "tgt_eos"}, s["label_smoothing"], Dictionary.pad),
    "nat": _with_length_loss,
    "glat": _with_length_loss,
    "ctc": lambda model, s: CTCCriterion(_last_layer(model), Dictionary.blank),
    "dat": lambda model, s: DagCriterion(_last_layer(model), Dictionary.pad, Dictionary.bos),
    "glat_ctc": lambda model, s: CTCCriterion(_last_layer(model), Dictionary.blank),
    "glat_dat": lambda model, s: DagCriterion(_last_layer(model), Dictionary.pad, Dictionary.bos),
    "diffglat": diffglat_dag,
    "diffglat_ctc": diffglat_ctc,
    "diffglat_glat": diffglat_cross_entropy,
}


def build_criterion(kind: str, model, settings: dict):
    if kind not in CRITERIA:
        raise ValueError(f"no criterion for model {kind!r}; known: {sorted(CRITERIA)}")
    return CRITERIA[kind](model, settings)


__all__ = ["CRITERIA", "CTCCriterion", "DagCriterion", "LayerwiseCrossEntropy", "WithLengthLoss", "build_criterion"]
