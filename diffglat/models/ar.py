"""Autoregressive Transformer (Vaswani et al. 2017): the decoder reads the target shifted right."""

from __future__ import annotations

import torch

from .output import DecoderOutput
from .transformer import TransformerSeq2Seq


class ARTransformer(TransformerSeq2Seq):
    def forward(self, src: torch.Tensor, prev_output_tokens: torch.Tensor) -> DecoderOutput:
        # src [B, S], prev_output_tokens [B, T] (BOS + target) -> logits [B, T, V] for target + EOS
        memory, memory_pad = self.encode(src)
        return self.decode(prev_output_tokens, memory, memory_pad)

    def decode(self, prev_output_tokens, memory, memory_pad) -> DecoderOutput:
        pad = prev_output_tokens.eq(self.pad)
        x = self.add_positions(self.embed_tokens(prev_output_tokens))
        last = self.decoder_states(x, pad, memory, memory_pad, causal=True)[-1]
        return DecoderOutput({len(self.decoder): self.project(last)}, pad)

    def new_cache(self) -> list[dict]:
        """Empty key/value cache for incremental decoding, one entry per decoder layer."""
        return [{"self": {}, "cross": {}} for _ in self.decoder]

    def decode_step(self, last_tokens, step: int, memory, memory_pad, cache: list[dict]) -> torch.Tensor:
        """One incremental step: last_tokens [B, 1] at position `step` -> logits [B, V]; fills cache."""
        B = last_tokens.shape[0]
        x = self.add_positions(self.embed_tokens(last_tokens), offset=step)
        no_pad = torch.zeros(B, step + 1, dtype=torch.bool, device=last_tokens.device)
        last = self.decoder_states(x, no_pad, memory, memory_pad, causal=True, cache=cache)[-1]
        return self.project(last[:, -1])

    def forward_batch(self, batch: dict, output_layers: tuple[int, ...], step: int = 0) -> DecoderOutput:
        """Trainer entry point; the AR model always returns its last layer only."""
        if set(output_layers) - {len(self.decoder)}:
            raise ValueError(f"the AR model only outputs its last decoder layer, asked for {output_layers}")
        return self(batch["src"], batch["prev_output_tokens"])
