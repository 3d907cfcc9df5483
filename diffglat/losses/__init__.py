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


def _last_layer(model) -> int:
    return len(model.decoder)


CRITERIA = {
    "ar": lambda model, s: LayerwiseCrossEntropy({_last_layer(model): "tgt_eos"}, s["label_smoothing"], Dictionary.pad),
    "nat": lambda model, s: LayerwiseCrossEntropy({_last_layer(model): "tgt"}, s["label_smoothing"], Dictionary.pad),
    "glat": lambda model, s: LayerwiseCrossEntropy({_last_layer(model): "tgt"}, s["label_smoothing"], Dictionary.pad),
    "ctc": lambda model, s: CTCCriterion(_last_layer(model), Dictionary.blank),
    "dat": lambda model, s: DagCriterion(_last_layer(model), Dictionary.pad, Dictionary.bos),
}


def build_criterion(kind: str, model, settings: dict):
    if kind not in CRITERIA:
        raise ValueError(f"no criterion for model {kind!r}; known: {sorted(CRITERIA)}")
    return CRITERIA[kind](model, settings)


__all__ = ["CRITERIA", "CTCCriterion", "DagCriterion", "LayerwiseCrossEntropy", "build_criterion"]
