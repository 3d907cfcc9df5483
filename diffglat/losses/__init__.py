"""Criteria: (DecoderOutput, batch) -> (scalar loss, stats dict).

Every criterion has `.layers`, the decoder layers whose outputs it reads (the model is asked for
exactly those). Which family trains with which criterion is the family table in cli/families.py.
"""

from __future__ import annotations

from .cross_entropy import LayerwiseCrossEntropy
from .ctc import CTCCriterion
from .dag import DagCriterion
from .length import WithLengthLoss

__all__ = ["CTCCriterion", "DagCriterion", "LayerwiseCrossEntropy", "WithLengthLoss"]
