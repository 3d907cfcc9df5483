"""Generators: model + source batch -> token ids.

`GENERATORS[kind](model, src, settings)` decodes src [B, S] (tokens + EOS) into ids [B, T']
padded with pad; BOS/EOS may remain (BPE.decode stops at EOS and drops specials). settings is
the experiment's `decode` config: each generator reads the keys it needs.
"""

from __future__ import annotations

import torch

from ..data.dictionary import Dictionary
from . import dag
from .autoregressive import ar_beam, ar_greedy
from .ctc import ctc_greedy
from .nat import nat_argmax

DAG_DECODERS = {"greedy": dag.greedy, "lookahead": dag.lookahead, "viterbi": dag.viterbi,
                "joint_viterbi": dag.joint_viterbi}


def max_output_length(src: torch.Tensor, settings: dict) -> int:
    """AR length limit for a batch: max_len_a x (longest source) + max_len_b."""
    return int(settings["max_len_a"] * int(src.ne(Dictionary.pad).sum(1).max()) + settings["max_len_b"])


@torch.no_grad()
def ar_generate(model, src: torch.Tensor, settings: dict) -> torch.Tensor:
    max_len = max_output_length(src, settings)
    if settings["beam"] > 1:
        return ar_beam(model, src, max_len, Dictionary.bos, Dictionary.eos, settings["beam"], settings["length_penalty"])[0]
    return ar_greedy(model, src, max_len, Dictionary.bos, Dictionary.eos)


@torch.no_grad()
def ctc_generate(model, src: torch.Tensor, settings: dict) -> torch.Tensor:
    output = model(src, model.decoder_lengths(src))
    return ctc_greedy(output.logits, output.target_pad, Dictionary.blank, Dictionary.pad)


@torch.no_grad()
def dat_generate(model, src: torch.Tensor, settings: dict) -> torch.Tensor:
    output = model(src, model.decoder_lengths(src))
    layer = max(output.layer_logits)
    token_logprobs = torch.log_softmax(output.layer_logits[layer].float(), dim=-1)
    graph_lengths = (~output.target_pad).sum(1)
    algorithm = settings["algorithm"]
    if algorithm not in DAG_DECODERS:
        raise ValueError(f"decode.algorithm {algorithm!r} is not one of {sorted(DAG_DECODERS)}")
    decode = DAG_DECODERS[algorithm]
    extra = {} if algorithm == "greedy" else {"beta": settings["beta"]}
    return decode(token_logprobs, output.layer_links[layer], graph_lengths, Dictionary.pad, **extra)


GENERATORS = {"ar": ar_generate, "ctc": ctc_generate, "dat": dat_generate}


def generate(kind: str, model, src: torch.Tensor, settings: dict) -> torch.Tensor:
    if kind not in GENERATORS:
        raise ValueError(f"no generator for model {kind!r}; known: {sorted(GENERATORS)}")
    return GENERATORS[kind](model, src, settings)


__all__ = ["DAG_DECODERS", "GENERATORS", "ar_beam", "ar_generate", "ar_greedy", "ctc_generate", "dat_generate",
           "generate", "nat_argmax"]
