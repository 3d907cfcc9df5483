"""Model families. Each returns a DecoderOutput; `build_model` maps a config name to a class."""

from __future__ import annotations

from .ar import ARTransformer
from .ctc import CTCNAT
from .dat import DATransformer
from .diffglat import DiffGLAT, DiffGLATCTC, DiffGLATNAT
from .glat import GlancingNAT
from .glat_ctc import GlancingCTCNAT
from .glat_dat import GlancingDAT
from .nat import NATransformer
from .output import DecoderOutput

MODELS = {"ar": ARTransformer, "nat": NATransformer, "glat": GlancingNAT, "ctc": CTCNAT, "dat": DATransformer,
          "glat_ctc": GlancingCTCNAT, "glat_dat": GlancingDAT,
          "diffglat": DiffGLAT, "diffglat_ctc": DiffGLATCTC, "diffglat_glat": DiffGLATNAT}


def build_model(kind: str, model_config: dict, vocab_size: int, pad: int):
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; known: {sorted(MODELS)}")
    return MODELS[kind](vocab_size=vocab_size, pad=pad, **model_config)


def load_trained(saved: dict, pad: int):
    """The model a `model.pt` record describes (kind, model_config, vocab_size, state_dict), weights loaded."""
    model = build_model(saved["kind"], saved["model_config"], saved["vocab_size"], pad)
    model.load_state_dict(saved["state_dict"])
    return model


__all__ = ["ARTransformer", "NATransformer", "GlancingNAT", "CTCNAT", "DATransformer", "GlancingCTCNAT", "GlancingDAT", "DiffGLAT", "DiffGLATCTC", "DiffGLATNAT", "DecoderOutput", "MODELS", "build_model", "load_trained"]
