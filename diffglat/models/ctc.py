"""CTC-NAT (Libovicky and Helcl 2018): a NAT decoding `upsample` x the source length frames,
trained with CTC against the target (losses/ctc.py) and decoded by collapsing repeats and
dropping blanks (decoding/ctc.py). The vocabulary's <blank> symbol is the CTC blank."""

from __future__ import annotations

import torch

from .nat import NATransformer
from .output import DecoderOutput


class CTCNAT(NATransformer):
    def __init__(self, upsample: int, **transformer):
        super().__init__(**transformer)
        self.upsample = upsample

    def frame_lengths(self, src: torch.Tensor) -> torch.Tensor:
        """upsample x (source tokens incl. EOS): [B]."""
        return self.upsample * src.ne(self.pad).sum(1)

    def forward_batch(self, batch: dict, output_layers: tuple[int, ...], step: int = 0) -> DecoderOutput:
        return self(batch["src"], self.frame_lengths(batch["src"]), output_layers)
