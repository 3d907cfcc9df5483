"""Generators: model + batch -> token ids (and scores)."""

from .greedy import ar_greedy, nat_argmax

__all__ = ["ar_greedy", "nat_argmax"]
