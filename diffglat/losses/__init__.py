"""Criteria: (DecoderOutput, batch) -> (scalar loss, stats dict)."""

from .cross_entropy import LayerwiseCrossEntropy

__all__ = ["LayerwiseCrossEntropy"]
