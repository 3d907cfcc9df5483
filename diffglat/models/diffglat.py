"""DiffGLAT (Qian et al. 2024): diffusion transitions inside a NAR decoder, trained with a modality
diffusion process and residual glancing sampling.

Transitions. The decoder layers form groups of `layers_per_transition` (k) layers; each group is one
denoising transition p(y_{t-1} | y_t, x). The hidden states flow from one transition to the next
(self-conditioning, Eq. 10: H_{t-1} = f(H_t, Enc(x))) and every transition's states go through the
base model's shared output projection (and, on a DA-Transformer, its shared link module). An
iterative model runs the whole decoder `iterations` times with the same parameters, the last
hidden states feeding the next pass. T = iterations x decoder_layers / k diffusion steps; the
first transition in decoding order computes level T - 1, the last one level 0.

Training (`forward_batch`), one transition per step (paper §3.3):
  1. draw s uniformly in 1..T: the s-th transition (t = T - s + 1 -> t - 1) is trained. Drawing
     uniformly is our reading of the glancing schedule "mu = 1/T" (appendix E): every transition
     is the glanced-and-trained one of a step with probability 1/T.
  2. transitions 1..s-1 run once, with gradients: both passes share them (nothing is glanced
     before transition s and pass 2 replays pass 1's dropout masks). Pass 1, no gradients, train
     mode, continues with transition s (and s + 1, whose prediction P_{t-2} the MDP needs).
  3. the intermediate target ỹ_{t-1} (models/diffusion.py): y0 for the last transition and, with
     every process, during the first `diffusion_warmup` steps; else the MDP chain or a D3PM
     sample. The MDP reads each target position, in every transition, at the decoder position
     transition s aligns it to: a position's state flows from one transition to the next, so one
     alignment serves the whole chain.
  4. residual glancing (Eqs. 11-12): S = floor(alpha * d(ỹ_{t-1}, ŷ_{t-1})) decoder positions,
     drawn only where the previous transition's prediction ŷ_t differs from ỹ_{t-1} (everywhere
     with `rgs: false`, and for the first transition, which has no previous prediction), read the
     target token at the input of transition s instead of their hidden state.
  5. pass 2 of transition s, same dropout masks (the RNG is rewound), with gradients: the output
     is its prediction, with ỹ_{t-1} as `target` and the glanced positions.
alpha falls linearly from glance_start to glance_end over glance_steps, restarting every
alpha_period steps when set (the "periodic" schedule of iterative models).

Families. Comparing a prediction with a target needs an alignment from target positions to
decoder positions (`align`, per base model): the identity for a NAT (oracle length), the best DAG
path for a DA-Transformer (Eq. 13: the target keeps its length |y|; glanced vertices are
force-aligned in the loss), the best CTC alignment for CTC (glanced frames read their aligned
label, blank included; target position k reads the first frame of its run). The MDP aligns y0,
glancing aligns ỹ_{t-1}, both on transition s's pass-1 prediction.

Outputs are keyed by transition number (1-based, decoding order), not by decoder layer. The model
adds no parameters to its base: a base model's state_dict loads as is.
"""

from __future__ import annotations

import torch

from ..data.dictionary import Dictionary
from ..losses.ctc import ctc_best_alignment
from ..losses.dag import dag_best_alignment, dag_match, dag_target
from .ctc import CTCNAT
from .dat import DATransformer
from .diffusion import GAMMAS, PROCESSES, d3pm_target, modality_diffusion, read_positions
from .glancing import glance_count, glancing_mask, linear_ratio
from .nat import NATransformer
from .output import DecoderOutput

def _rng_state(device: torch.device):
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def _set_rng_state(state, device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def _scatter_labels(positions: torch.Tensor, target: torch.Tensor, length: int, fill: int) -> torch.Tensor:
    """Decoder-space labels [B, length]: target[b, k] at positions[b, k] (>= 0), fill elsewhere."""
    labels = torch.full((target.shape[0], length + 1), fill, dtype=target.dtype, device=target.device)
    labels.scatter_(1, torch.where(positions >= 0, positions, length), target)  # unaligned -> spare column
    return labels[:, :length]


class DiffusionGlancing:
    """The DiffGLAT mixin: put it before a NATransformer subclass, which supplies `align`."""

    def __init__(self, *, glance_steps: int, diffusion_warmup: int, layers_per_transition: int = 3,
                 iterations: int = 1, diffusion: str = "mdp", gammas=GAMMAS, keep_fraction: float = 0.9,
                 rgs: bool = True, glance_start: float = 0.5, glance_end: float = 0.1, alpha_period: int = 0,
                 **base):
        super().__init__(**base)
        if len(self.decoder) % layers_per_transition:
            raise ValueError(f"decoder_layers={len(self.decoder)} is not a multiple of "
                             f"layers_per_transition={layers_per_transition}")
        if diffusion not in PROCESSES:
            raise ValueError(f"diffusion {diffusion!r} is not one of {PROCESSES}")
        if list(gammas) != sorted(gammas) or gammas[0] != 0:
            raise ValueError(f"gammas must ascend from 0 (0 keeps the target): {gammas}")
        self.layers_per_transition, self.iterations = layers_per_transition, iterations
        self.diffusion, self.gammas, self.keep_fraction = diffusion, tuple(gammas), keep_fraction
        self.diffusion_warmup, self.rgs = diffusion_warmup, rgs
        self.glance_start, self.glance_end, self.glance_steps = glance_start, glance_end, glance_steps
        self.alpha_period = alpha_period

    @property
    def transitions_per_pass(self) -> int:
        return len(self.decoder) // self.layers_per_transition

    @property
    def diffusion_steps(self) -> int:
        """T: transitions in a training forward (iterations x transitions per decoder pass)."""
        return self.iterations * self.transitions_per_pass

    # ---- the generative process -------------------------------------------------------------
    def transition(self, s: int, x, pad, memory, memory_pad) -> torch.Tensor:
        """Transition s (0-based, decoding order): its input x [B, L, D] -> its output states [B, L, D].
        The first transition's input is the decoder input embedding: it adds the positions (and dropout)."""
        if s == 0:
            x = self.add_positions(x)
        first = (s % self.transitions_per_pass) * self.layers_per_transition  # iterations reuse the same layers
        for layer in self.decoder[first: first + self.layers_per_transition]:
            x = layer(x, pad, memory, memory_pad, causal=False)
        return x

    def glance(self, s: int, x, mask, tokens) -> torch.Tensor:
        """Transition s's input x [B, L, D] where mask [B, L] is set reads the embedding of tokens [B, L]
        instead: at the decoder input exactly as GLAT does, at a later boundary in place of the hidden
        state, with the position added as for a decoder input (no dropout: both passes draw the same)."""
        glanced = self.embed_tokens(tokens)
        if s > 0:
            glanced = glanced + self.positions(x.shape[1])
        return torch.where(mask[..., None], glanced.to(x.dtype), x)

    def transitions(self, src, memory, memory_pad, lengths, count: int) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The first `count` transitions from the decoder input: -> the states after each [B, L, D], pad [B, L]."""
        x, pad = self.decoder_input(src, memory_pad, lengths)
        states = []
        for s in range(count):
            x = self.transition(s, x, pad, memory, memory_pad)
            states.append(x)
        return states, pad

    def forward(self, src: torch.Tensor, lengths: torch.Tensor, iterations: int | None = None) -> DecoderOutput:
        """Inference: src [B, S], decoder lengths [B] -> the last transition's output after
        `iterations` decoder passes (default: as trained)."""
        memory, memory_pad = self.encode(src)
        output = self.decode(src, memory, memory_pad, lengths, iterations)
        if self.length is not None:
            output.length_logits = self.length(memory, memory_pad)
        return output

    def decode(self, src, memory, memory_pad, lengths, iterations: int | None = None) -> DecoderOutput:
        """The decoder half of `forward`, on an encoded source."""
        count = (iterations or self.iterations) * self.transitions_per_pass
        states, pad = self.transitions(src, memory, memory_pad, lengths, count)
        return self.outputs(states, pad, (count,))

    # ---- training -----------------------------------------------------------------------------
    def glance_ratio(self, step: int) -> float:
        """alpha: linear from glance_start to glance_end over glance_steps (a sawtooth with alpha_period)."""
        if self.alpha_period:
            step %= self.alpha_period
        return linear_ratio(step, self.glance_steps, self.glance_start, self.glance_end)

    def forward_batch(self, batch: dict, output_layers: tuple[int, ...], step: int = 0) -> DecoderOutput:
        """A transition drawn uniformly (mu = 1/T), trained against its intermediate target
        (output_layers: unused, the model picks the transition)."""
        return self.train_transition(batch, int(torch.randint(1, self.diffusion_steps + 1, ())), step)

    def train_transition(self, batch: dict, s: int, step: int) -> DecoderOutput:
        """Pass 1, intermediate target, residual glancing, pass 2 for the s-th transition (1-based,
        decoding order), which predicts y_{T-s}: t - 1 in the paper. See the module docstring."""
        src, T = batch["src"], self.diffusion_steps
        level = T - s
        y0 = self.diffusion_target(batch)  # [B, n]
        lengths = self.training_lengths(batch)
        warm = step < self.diffusion_warmup or level == 0
        mdp = self.diffusion == "mdp" and not warm

        # Transitions 1..s-1 are the same in both passes (same dropout masks, nothing glanced before
        # transition s): computed once, with gradients.
        memory, memory_pad = self.encode(src)
        x, pad = self.decoder_input(src, memory_pad, lengths)
        hidden = [x]  # hidden[i]: the input of transition i (0-based), the output of transition i - 1
        for i in range(s - 1):
            hidden.append(self.transition(i, hidden[i], pad, memory, memory_pad))
        replay = _rng_state(src.device)

        with torch.no_grad():  # pass 1 of transition s (and s + 1, whose prediction the MDP reads)
            for i in range(s - 1, s + 1 if mdp else s):
                hidden.append(self.transition(i, hidden[i], pad, memory, memory_pad))
            states = hidden[1:]
            trained = self.outputs(states, pad, (s,))
            if warm:
                target = y0
            elif mdp:
                # Target position k is read at the decoder position the trained transition aligns it
                # to, in every transition: a position's state flows from one transition to the next.
                at = self.align(trained, y0)[0]  # [B, n]
                index = at.clamp(min=0)[..., None].expand(-1, -1, self.d_model)
                reads = [read_positions(self.project(h.gather(1, index)), at >= 0, y0) for h in states]
                # chain step j = 0..s-1 builds ỹ_{T-1-j}: interpolate with transition j+2's prediction,
                # pick gamma on the agreement of transition j's (none for the first transition)
                margin = torch.stack([r[1] for r in reads[1:]])
                other = torch.stack([r[2] for r in reads[1:]])
                agree = torch.stack([torch.zeros_like(y0, dtype=torch.bool)] + [r[0] == y0 for r in reads[: s - 1]])
                target = modality_diffusion(y0, margin, other, agree, self.gammas, self.keep_fraction)[-1]
            else:
                target = d3pm_target(y0, level, T, self.diffusion, self.embed.num_embeddings)

            positions, labels = self.align(trained, target)  # ỹ on transition s's own prediction
            labelled = labels != self.pad
            counts = glance_count(trained.logits.argmax(-1), labels, ~labelled, self.glance_ratio(step))
            allowed = labelled
            if self.rgs and s > 1:  # residual: only what the input (transition s - 1's prediction) got wrong
                previous = torch.full_like(labels, -1)
                previous[labelled] = self.project(states[s - 2][labelled]).argmax(-1)  # only where it matters
                allowed = allowed & (previous != labels)
            glanced = glancing_mask(allowed, counts)

        after = _rng_state(src.device)
        _set_rng_state(replay, src.device)  # pass 2 of transition s draws pass 1's dropout masks again
        x = self.transition(s - 1, self.glance(s - 1, hidden[s - 1], glanced, labels), pad, memory, memory_pad)
        _set_rng_state(after, src.device)
        output = self.outputs(hidden[1:s] + [x], pad, (s,))
        if self.length is not None:
            output.length_logits = self.length(memory, memory_pad)
        output.target, output.glanced = target, glanced
        self.mark_glanced(output, positions)
        return output

    # ---- per family -------------------------------------------------------------------------------
    def diffusion_target(self, batch: dict) -> torch.Tensor:
        """y0 as the family's loss reads it: the NAT target [B, n]."""
        return batch["tgt"]

    def training_lengths(self, batch: dict) -> torch.Tensor:
        return self.decoder_lengths(batch["src"])

    def align(self, output: DecoderOutput, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> positions [B, n] (decoder position of each target position, -1 if none) and the labels a
        glanced decoder position reads [B, L] (pad where there is none)."""
        raise NotImplementedError

    def mark_glanced(self, output: DecoderOutput, positions: torch.Tensor) -> None:
        """Anything the family's loss needs to know about the glanced positions beyond `glanced`."""


class DiffGLAT(DiffusionGlancing, DATransformer):
    """DiffGLAT on a DA-Transformer (the paper's main model)."""

    def diffusion_target(self, batch: dict) -> torch.Tensor:
        return dag_target(batch["tgt_eos"], Dictionary.bos)  # BOS y EOS

    def align(self, output, target):
        match = dag_match(output.logits, target, self.pad, output.target_pad)  # [B, n, L]
        path = dag_best_alignment(match, output.links, target.ne(self.pad).sum(1), (~output.target_pad).sum(1))
        return path, _scatter_labels(path, target, output.logits.shape[1], self.pad)

    def mark_glanced(self, output, positions):
        # the target position each glanced vertex was shown; the DAG loss pins it there
        index = torch.arange(positions.shape[1], device=positions.device).expand_as(positions)
        vertex_position = _scatter_labels(positions, index, output.glanced.shape[1], -1)
        output.forced_alignment = vertex_position.masked_fill(~output.glanced, -1)


class DiffGLATCTC(DiffusionGlancing, CTCNAT):
    """DiffGLAT on CTC (appendix C, Table 8): CTC loss against the intermediate target."""

    def align(self, output, target):
        log_probs = torch.log_softmax(output.logits.float(), dim=-1)  # [B, S, V]
        frames = ctc_best_alignment(log_probs, (~output.target_pad).sum(1), target, target.ne(self.pad).sum(1),
                                    Dictionary.blank)  # [B, S] labels, -1 past the end or if infeasible
        previous = torch.cat([torch.full_like(frames[:, :1], -1), frames[:, :-1]], dim=1)
        starts = (frames >= 0) & (frames != Dictionary.blank) & (frames != previous)  # a new target token
        k = torch.where(starts, starts.cumsum(1) - 1, target.shape[1])  # its target position
        positions = torch.full((target.shape[0], target.shape[1] + 1), -1, dtype=torch.long, device=target.device)
        frame = torch.arange(frames.shape[1], device=frames.device).expand_as(frames)
        positions.scatter_(1, k, torch.where(starts, frame, -1))
        return positions[:, :-1], frames.masked_fill(frames < 0, self.pad)


class DiffGLATNAT(DiffusionGlancing, NATransformer):
    """DiffGLAT without DAT (Figure 5): a NAT at the oracle length, cross-entropy against ỹ."""

    def training_lengths(self, batch: dict) -> torch.Tensor:
        return batch["tgt_lengths"]

    def align(self, output, target):
        positions = torch.arange(target.shape[1], device=target.device).expand_as(target)
        return positions.masked_fill(target == self.pad, -1), target
