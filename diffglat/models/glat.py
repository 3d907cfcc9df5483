"""GLAT (Qian et al. 2021): a NAT trained with glancing sampling.

Each training step decodes twice. Pass 1, without gradients but in train mode, predicts every
target position from the copied source. Then S = floor(ratio x Hamming distance to the target)
positions, drawn uniformly, get the target token's embedding as decoder input; pass 2, with the
same dropout masks (the RNG is rewound), is trained on the other positions. The ratio anneals
linearly over training (0.5 -> 0.3 for GLAT). Inference is a plain NAT pass: no glancing.
"""

from __future__ import annotations

import torch

from .glancing import glance_count, glancing_mask, linear_ratio
from .nat import NATransformer
from .output import DecoderOutput


class GlancingNAT(NATransformer):
    def __init__(self, glance_start: float, glance_end: float, glance_steps: int, **transformer):
        super().__init__(**transformer)
        self.glance_start, self.glance_end, self.glance_steps = glance_start, glance_end, glance_steps

    def forward_batch(self, batch: dict, output_layers: tuple[int, ...], step: int = 0) -> DecoderOutput:
        src, lengths, target = batch["src"], batch["tgt_lengths"], batch["tgt"]
        rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state_all() if src.is_cuda else None
        with torch.no_grad():
            first = self(src, lengths)
        ratio = linear_ratio(step, self.glance_steps, self.glance_start, self.glance_end)
        counts = glance_count(first.logits.argmax(-1), target, first.target_pad, ratio)
        glanced = glancing_mask(~first.target_pad, counts)
        torch.set_rng_state(rng)  # pass 2 draws the same dropout masks as pass 1
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        output = self(src, lengths, output_layers, glance_mask=glanced, glance_tokens=target)
        output.glanced = glanced
        return output
