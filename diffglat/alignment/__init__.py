"""Alignments between decoder positions and a target, below models, losses and decoding (it imports
nothing of diffglat): DAG target log-probs, the best DAG path, forced alignment, the best CTC alignment."""

from .ctc import ctc_best_alignment
from .dag import dag_best_alignment, dag_match, dag_target, force_alignment, target_log_probs

__all__ = ["ctc_best_alignment", "dag_best_alignment", "dag_match", "dag_target", "force_alignment", "target_log_probs"]
