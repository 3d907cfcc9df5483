"""The one table of model families: for each config name, the model class, the criterion it trains
with, the generator that decodes it, its typed `model_args`, and what it can do.

Adding a family is one entry in FAMILIES plus its own files (a model in models/, a criterion in
losses/ and a generator in decoding/ where the existing ones do not fit). Its `args` are JSON-schema
properties, checked with the rest of the config before any job runs (config.validate): an unknown
or out-of-range argument is an error naming the key and the file that set it. Arguments shared by
every family's Transformer (layers, widths, dropout) come from `translation.sizes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..data.dictionary import Dictionary
from ..decoding import (ar_generate, ctc_generate, dat_generate, diffglat_ctc_generate, diffglat_generate,
                        diffglat_nat_generate, nat_generate)
from ..losses import CTCCriterion, DagCriterion, LayerwiseCrossEntropy, WithLengthLoss
from ..losses.diffglat import diffglat_cross_entropy, diffglat_ctc, diffglat_dag
from ..models import (ARTransformer, CTCNAT, DATransformer, DiffGLAT, DiffGLATCTC, DiffGLATNAT, GlancingCTCNAT,
                      GlancingDAT, GlancingNAT, NATransformer)
from ..models.diffglat import GLANCING, WARMUP_TRANSITIONS
from ..models.diffusion import EMPTY_AGREEMENT, GAMMAS, PROCESSES


@dataclass(frozen=True)
class Family:
    model: type  # (vocab_size, pad, **size, **model_args) -> nn.Module returning a DecoderOutput
    criterion: Callable  # (model, loss settings) -> (DecoderOutput, batch) -> (loss, stats)
    generator: Callable  # (model, src [B, S], decode settings) -> token ids [B, T']
    args: dict = field(default_factory=dict)  # model_args: name -> JSON schema (with description/default)
    required: tuple[str, ...] = ()  # model_args without a default
    autoregressive: bool = False  # decodes left to right (beam search; no decoder-layer outputs)
    has_dag: bool = False  # a DA-Transformer graph: DAG decoding, DA-Transformer's training filter


# ---- typed model_args ------------------------------------------------------------------------------
def _integer(minimum: int, description: str, default=None) -> dict:
    return {"type": "integer", "minimum": minimum, "description": description,
            **({"default": default} if default is not None else {})}


RATIO = {"type": "number", "minimum": 0, "maximum": 1}
POSITIONS = {"max_positions": _integer(1, "rows of the position tables (default 1024; grown to fit long upsampled sources)")}
LENGTH = {"max_length_offset": _integer(1, "predict the target length as source length + offset in [-m, m] "
                                           "(unset: decode the oracle length, as the synthetic study does)")}


def _upsample(default=None) -> dict:
    return {"upsample": _integer(1, "decoder positions (CTC frames, DAG vertices) per source token", default)}


GLANCE = {"glance_start": {**RATIO, "description": "glancing ratio at step 0"},
          "glance_end": {**RATIO, "description": "glancing ratio after glance_steps updates"},
          "glance_steps": _integer(0, "updates over which the ratio falls linearly")}
DIFFUSION = {
    **GLANCE,
    "glance_start": {**GLANCE["glance_start"], "default": 0.5}, "glance_end": {**GLANCE["glance_end"], "default": 0.1},
    "diffusion_warmup": _integer(0, "updates that train every transition on y0 (appendix E)"),
    "layers_per_transition": _integer(1, "decoder layers per denoising transition (k)", 3),
    "iterations": _integer(1, "decoder passes with shared parameters (T = iterations x layers / k)", 1),
    "diffusion": {"enum": list(PROCESSES), "default": "mdp", "description": "how intermediate targets are built"},
    "gammas": {"type": "array", "items": RATIO, "minItems": 1, "default": list(GAMMAS),
               "description": "the MDP's candidate interpolation weights"},
    "keep_fraction": {**RATIO, "default": 0.9, "description": "MDP: share of y0 an intermediate target keeps"},
    "empty_agreement": {"enum": list(EMPTY_AGREEMENT), "default": "largest",
                        "description": "MDP: what to do when no token agrees"},
    "exact_keep": {"type": "boolean", "default": False, "description": "MDP: keep exactly keep_fraction"},
    "glancing": {"enum": list(GLANCING), "default": "residual", "description": "residual (RGS), layerwise, input (w/o RGS)"},
    "warmup_transitions": {"enum": list(WARMUP_TRANSITIONS), "default": "all",
                           "description": "which transitions the warm-up trains"},
    "alpha_period": _integer(0, "restart the glancing schedule every this many updates (0: never)", 0),
}
DIFFUSION_REQUIRED = ("glance_steps", "diffusion_warmup")


# ---- criteria ----------------------------------------------------------------------------------------
def _last_layer(model) -> int:
    return len(model.decoder)


def _ar_loss(model, settings: dict) -> LayerwiseCrossEntropy:
    return LayerwiseCrossEntropy({_last_layer(model): "tgt_eos"}, settings["label_smoothing"], Dictionary.pad)


def _nat_loss(model, settings: dict) -> WithLengthLoss:
    """NAT/GLAT: last layer vs target, plus length_loss_weight (default 0.1) x the length cross-entropy."""
    tokens = LayerwiseCrossEntropy({_last_layer(model): "tgt"}, settings["label_smoothing"], Dictionary.pad)
    return WithLengthLoss(tokens, model.length, settings.get("length_loss_weight", 0.1), Dictionary.pad)


def _ctc_loss(model, settings: dict) -> CTCCriterion:
    return CTCCriterion(_last_layer(model), Dictionary.blank)


def _dag_loss(model, settings: dict) -> DagCriterion:
    return DagCriterion(_last_layer(model), Dictionary.pad, Dictionary.bos)


# ---- the table -----------------------------------------------------------------------------------------
FAMILIES: dict[str, Family] = {
    "ar": Family(ARTransformer, _ar_loss, ar_generate, POSITIONS, autoregressive=True),
    "nat": Family(NATransformer, _nat_loss, nat_generate, {**POSITIONS, **LENGTH}),
    "glat": Family(GlancingNAT, _nat_loss, nat_generate, {**POSITIONS, **LENGTH, **GLANCE}, tuple(GLANCE)),
    "ctc": Family(CTCNAT, _ctc_loss, ctc_generate, {**POSITIONS, **_upsample()}, ("upsample",)),
    "dat": Family(DATransformer, _dag_loss, dat_generate, {**POSITIONS, **_upsample()}, ("upsample",), has_dag=True),
    "glat_ctc": Family(GlancingCTCNAT, _ctc_loss, ctc_generate, {**POSITIONS, **_upsample(2), **GLANCE}, tuple(GLANCE)),
    "glat_dat": Family(GlancingDAT, _dag_loss, dat_generate, {**POSITIONS, **_upsample(), **GLANCE},
                       ("upsample", *GLANCE), has_dag=True),
    "diffglat": Family(DiffGLAT, diffglat_dag, diffglat_generate, {**POSITIONS, **_upsample(), **DIFFUSION},
                       ("upsample", *DIFFUSION_REQUIRED), has_dag=True),
    "diffglat_ctc": Family(DiffGLATCTC, diffglat_ctc, diffglat_ctc_generate, {**POSITIONS, **_upsample(), **DIFFUSION},
                           ("upsample", *DIFFUSION_REQUIRED)),
    "diffglat_glat": Family(DiffGLATNAT, diffglat_cross_entropy, diffglat_nat_generate,
                            {**POSITIONS, **LENGTH, **DIFFUSION}, DIFFUSION_REQUIRED),
}


def family(kind: str) -> Family:
    if kind not in FAMILIES:
        raise ValueError(f"unknown model family {kind!r}; known: {sorted(FAMILIES)}")
    return FAMILIES[kind]


def model_args_schemas() -> dict[str, dict]:
    """Family -> the JSON schema of its model_args (for config.validate)."""
    return {name: {"type": "object", "additionalProperties": False, "properties": f.args, "required": list(f.required)}
            for name, f in FAMILIES.items()}


def build_model(kind: str, model_config: dict, vocab_size: int, pad: int):
    return family(kind).model(vocab_size=vocab_size, pad=pad, **model_config)


def build_criterion(kind: str, model, settings: dict):
    return family(kind).criterion(model, settings)


def generate(kind: str, model, src, settings: dict):
    return family(kind).generator(model, src, settings)


def load_trained(saved: dict, pad: int):
    """The model a `model.pt` record describes (kind, model_config, vocab_size, state_dict), weights loaded."""
    model = build_model(saved["kind"], saved["model_config"], saved["vocab_size"], pad)
    model.load_state_dict(saved["state_dict"])
    return model
