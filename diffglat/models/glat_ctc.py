"""GLAT + CTC (Qian et al. 2021; the CTC+GLAT baseline of Huang et al. 2022): glancing on CTC frames.

A CTC-NAT (`upsample` x source length frames, 2x by default) trained with two-pass glancing. The
frames have no fixed target token, so the glancing target is the best CTC alignment of the target
under pass 1 (glancing.ctc_frames): one label per frame, blanks included. The distance d
counts the frames whose pass-1 argmax differs from their aligned label, and S = floor(ratio x d)
frames drawn uniformly among the aligned frames read their label's embedding (a blank frame reads
the blank's). Public CTC-GLAT code that aligns (Imputer's best_alignment, e.g. in the CTCS2UT
plugins) does the same: every frame, blanks included, is compared with its aligned label, and all
frames can be glanced (DSLP's nat_ctc_glat compares frame i with target token i instead, ignoring
the alignment). Unlike that code, which keeps each frame with probability ratio x d / frames, S is
exact, as in GLAT.

The loss stays CTC over the whole target: CTC sums over alignments and cannot drop positions, so
glanced frames are not removed from it (losses/ctc.py ignores `glanced`).
"""

from __future__ import annotations

from .glancing import GlanceSchedule, ctc_frames, glance_count, glancing_mask, two_pass_glancing
from .nat import UpsampledNAT
from .output import DecoderOutput, best_tokens


class GlancingCTCNAT(UpsampledNAT):
    def __init__(self, glance_start: float, glance_end: float, glance_steps: int, upsample: int = 2, **transformer):
        super().__init__(upsample, **transformer)
        self.schedule = GlanceSchedule(glance_start, glance_end, glance_steps)

    def forward_batch(self, batch: dict, output_layers: tuple[int, ...], step: int = 0) -> DecoderOutput:
        src = batch["src"]
        ratio = self.schedule.ratio(step)

        def choose(first: DecoderOutput):
            alignment = ctc_frames(first, batch["tgt"], self.pad)  # [B, S], -1 past the frames or if infeasible
            aligned = alignment >= 0
            counts = glance_count(best_tokens(first.logits), alignment, ~aligned, ratio)
            return glancing_mask(aligned, counts), alignment.clamp(min=0)

        return two_pass_glancing(self, src, self.decoder_lengths(src), output_layers, choose)
