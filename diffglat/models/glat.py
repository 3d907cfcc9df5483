"""GLAT (Qian et al. 2021): a NAT trained with glancing sampling.

Each training step decodes twice. Pass 1, without gradients but in train mode, predicts every
target position from the copied source. Then S = floor(ratio x Hamming distance to the target)
positions, drawn uniformly, get the target token's embedding as decoder input; pass 2, with the
same dropout masks (the RNG is rewound), is trained on the other positions. The ratio anneals
linearly over training (0.5 -> 0.3 for GLAT). Inference is a plain NAT pass: no glancing.
"""

from __future__ import annotations

from .glancing import GlanceSchedule, glance_count, glancing_mask, two_pass_glancing
from .nat import NATransformer
from .output import DecoderOutput, best_tokens


class GlancingNAT(NATransformer):
    def __init__(self, glance_start: float, glance_end: float, glance_steps: int, **transformer):
        super().__init__(**transformer)
        self.schedule = GlanceSchedule(glance_start, glance_end, glance_steps)

    def forward_batch(self, batch: dict, output_layers: tuple[int, ...], step: int = 0) -> DecoderOutput:
        target = batch["tgt"]
        ratio = self.schedule.ratio(step)

        def choose(first: DecoderOutput):
            counts = glance_count(best_tokens(first.logits), target, first.decoder_pad, ratio)
            return glancing_mask(~first.decoder_pad, counts), target

        return two_pass_glancing(self, batch["src"], batch["tgt_lengths"], output_layers, choose)
