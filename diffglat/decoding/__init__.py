"""Generators: model + source batch -> token ids.

A generator (model, src, settings) decodes src [B, S] (tokens + EOS; or image region features
[B, S, F]) into ids [B, T'] padded with pad (which family decodes with which: the family table in
cli/families.py); BOS/EOS may remain (BPE.decode stops at EOS and drops specials). settings is
the experiment's `decode` config: each generator reads the keys it needs.
"""

from __future__ import annotations

import torch

from ..data.dictionary import Dictionary
from ..models.transformer import source_lengths
from . import dag
from .autoregressive import ar_beam, ar_greedy
from .ctc import ctc_greedy
from .nat import length_beam, nat_argmax

DAG_DECODERS = {"greedy": dag.greedy, "lookahead": dag.lookahead, "viterbi": dag.viterbi,
                "joint_viterbi": dag.joint_viterbi}


def max_output_length(src: torch.Tensor, settings: dict) -> int:
    """AR length limit for a batch: max_len_a x (longest source: tokens, or image regions) + max_len_b."""
    return int(settings["max_len_a"] * int(source_lengths(src, Dictionary.pad).max()) + settings["max_len_b"])


@torch.no_grad()
def ar_generate(model, src: torch.Tensor, settings: dict) -> torch.Tensor:
    max_len = max_output_length(src, settings)
    if settings["beam"] > 1:
        return ar_beam(model, src, max_len, Dictionary.bos, Dictionary.eos, settings["beam"], settings["length_penalty"])[0]
    return ar_greedy(model, src, max_len, Dictionary.bos, Dictionary.eos)


@torch.no_grad()
def nat_generate(model, src: torch.Tensor, settings: dict) -> torch.Tensor:
    """NAT/GLAT: argmax decoding of the top `length_beam` (default 1) predicted lengths."""
    return length_beam(model, src, settings.get("length_beam", 1))


@torch.no_grad()
def ctc_generate(model, src: torch.Tensor, settings: dict) -> torch.Tensor:
    output = model(src, model.decoder_lengths(src))
    return ctc_greedy(output.logits, output.decoder_pad, Dictionary.blank, Dictionary.pad)


@torch.no_grad()
def dat_generate(model, src: torch.Tensor, settings: dict) -> torch.Tensor:
    return dag_decode(model(src, model.decoder_lengths(src)), settings)


def dag_decode(output, settings: dict) -> torch.Tensor:
    """Tokens of a DAG output's last layer by decode.algorithm (and decode.beta)."""
    layer = max(output.logits_at)
    token_logprobs = torch.log_softmax(output.logits_at[layer].float(), dim=-1)
    graph_lengths = (~output.decoder_pad).sum(1)
    algorithm = settings["algorithm"]
    if algorithm not in DAG_DECODERS:
        raise ValueError(f"decode.algorithm {algorithm!r} is not one of {sorted(DAG_DECODERS)}")
    decode = DAG_DECODERS[algorithm]
    extra = {} if algorithm == "greedy" else {"beta": settings["beta"]}
    return decode(token_logprobs, output.links_at[layer], graph_lengths, Dictionary.pad, **extra)


def decode_iterations(model, settings: dict) -> int:
    """DiffGLAT: decoder passes at inference, decode.iterations (may differ from training, paper
    Figure 8), or as trained when unset."""
    return settings.get("iterations") or model.iterations


@torch.no_grad()
def diffglat_generate(model, src: torch.Tensor, settings: dict) -> torch.Tensor:
    """DiffGLAT (DAT): DAG decoding of the last transition (Joint-Viterbi in the paper)."""
    return dag_decode(model(src, model.decoder_lengths(src), decode_iterations(model, settings)), settings)


@torch.no_grad()
def diffglat_ctc_generate(model, src: torch.Tensor, settings: dict) -> torch.Tensor:
    output = model(src, model.decoder_lengths(src), decode_iterations(model, settings))
    return ctc_greedy(output.logits, output.decoder_pad, Dictionary.blank, Dictionary.pad)


@torch.no_grad()
def diffglat_nat_generate(model, src: torch.Tensor, settings: dict) -> torch.Tensor:
    """DiffGLAT without DAT: the NAT length beam, which decodes with the trained iterations."""
    if decode_iterations(model, settings) != model.iterations:
        raise ValueError(f"diffglat_glat decodes with its {model.iterations} training iterations: "
                         f"decode.iterations={settings.get('iterations')} is not supported (leave it unset)")
    return nat_generate(model, src, settings)


__all__ = ["DAG_DECODERS", "ar_beam", "ar_generate", "ar_greedy", "ctc_generate", "dag_decode", "dat_generate",
           "decode_iterations", "diffglat_ctc_generate", "diffglat_generate", "diffglat_nat_generate",
           "length_beam", "nat_argmax", "nat_generate"]
