"""Generators: model + batch -> token ids (and scores)."""

from .autoregressive import ar_beam, ar_greedy
from .nat import nat_argmax

__all__ = ["ar_beam", "ar_greedy", "nat_argmax"]
