"""DiffGLAT (Qian et al. 2024): diffusion transitions inside a NAR decoder, trained with a modality
diffusion process and residual glancing sampling.

Transitions. The decoder layers form groups of `layers_per_transition` (k) layers; each group is one
denoising transition p(y_{t-1} | y_t, x). The hidden states flow from one transition to the next
(self-conditioning, Eq. 10: H_{t-1} = f(H_t, Enc(x))) and every transition's states go through the
base model's shared output projection (and, on a DA-Transformer, its shared link module). An
iterative model runs the whole decoder `iterations` times with the same parameters, the last
hidden states feeding the next pass. T = iterations x decoder_layers / k diffusion steps; the
first transition in decoding order computes level T - 1, the last one level 0.

Training (`forward_batch`). Warm-up (the first `diffusion_warmup` steps, appendix E: "we train the
model to predict the target y0 at all steps t"): with `warmup_transitions: all` every transition of
the unrolled model (all `iterations` passes) predicts y0 in the same step, their losses averaged
(deep supervision, as DSLP does per layer), with GLAT's glancing at the decoder input read off the
last transition; `progressive` does the same on an unrolled depth that grows one decoder pass at
a time (pass p joins after ceil((p - 1) x diffusion_warmup / iterations) updates, so all T
transitions train in the last 1/iterations of the warm-up); `sampled` trains one transition drawn
as below per step (each then gets 1/T of the warm-up). After the warm-up, one transition per step (paper §3.3):
  1. draw s uniformly in 1..T: the s-th transition (t = T - s + 1 -> t - 1) is trained. Drawing
     uniformly is our reading of the glancing schedule "mu = 1/T" (appendix E): every transition
     is the glanced-and-trained one of a step with probability 1/T.
  2. pass 1, no gradients, train mode, runs transitions 1..s (and s + 1, whose prediction P_{t-2}
     the MDP needs). With layer-wise glancing transitions 1..s-1 are the same in both passes (same
     dropout masks, nothing glanced before transition s): computed once, with gradients.
  3. the intermediate target ỹ_{t-1} (models/diffusion.py): y0 for the last transition; else the
     MDP chain or a D3PM sample. The MDP reads each transition's prediction on that transition's
     own alignment of y0 (its own best DAG path: each transition has its own links), and logs the
     fraction of ỹ that differs from y0 per transition (`differ_fraction`).
  4. glancing, S = floor(alpha * d(ỹ_{t-1}, ŷ_{t-1})) positions (`glancing`): "residual" (Eqs.
     11-12) draws them only where the previous transition's prediction ŷ_t differs from ỹ_{t-1}
     (everywhere for the first transition) and feeds the target token at the input of transition
     s instead of its hidden state; "layerwise" the same without the residual restriction;
     "input" is GLAT's original glancing (the paper's "w/o RGS"): the tokens replace the decoder
     input and pass 2 reruns transitions 1..s from there.
  5. pass 2, same dropout masks (the RNG is rewound), with gradients: the output is transition s's
     prediction, with ỹ_{t-1} as `target` and the glanced positions.
alpha falls linearly from glance_start to glance_end over glance_steps, restarting every
alpha_period steps when set (the "periodic" schedule of iterative models; glancing.GlanceSchedule).

Families. Comparing a prediction with a target needs an alignment from target positions to
decoder positions (`align`, per base model): the identity for a NAT (oracle length), the best DAG
path for a DA-Transformer (Eq. 13: the target keeps its length |y|; glanced vertices are
force-aligned in the loss), the best CTC alignment for CTC (glanced frames read their aligned
label, blank included; target position k reads the first frame of its run). The MDP aligns y0 on
each transition's pass-1 prediction, glancing aligns ỹ_{t-1} on transition s's.

Outputs are keyed by transition number (1-based, decoding order), not by decoder layer. The model
adds no parameters to its base: a base model's state_dict loads as is.
"""

from __future__ import annotations

import torch

from ..alignment import dag_target
from ..data.dictionary import Dictionary
from .ctc import CTCNAT
from .dat import DATransformer
from .diffusion import GAMMAS, PROCESSES, MdpRule, d3pm_target, differ_fraction, modality_diffusion, read_positions
from .glancing import GlanceSchedule, RandomState, ctc_frames, dag_path, glance_count, glancing_mask
from .nat import NATransformer
from .output import DecoderOutput, best_tokens

GLANCING = ("residual", "layerwise", "input")
WARMUP_TRANSITIONS = ("all", "progressive", "sampled")


def _scatter_labels(positions: torch.Tensor, target: torch.Tensor, length: int, fill: int) -> torch.Tensor:
    """Decoder-space labels [B, length]: target[b, k] at positions[b, k] (>= 0), fill elsewhere."""
    labels = torch.full((target.shape[0], length + 1), fill, dtype=target.dtype, device=target.device)
    labels.scatter_(1, torch.where(positions >= 0, positions, length), target)  # unaligned -> spare column
    return labels[:, :length]


class DiffusionGlancing:
    """The DiffGLAT mixin: put it before a NATransformer subclass, which supplies `align`."""

    def __init__(self, *, glance_steps: int, diffusion_warmup: int, layers_per_transition: int = 3,
                 iterations: int = 1, diffusion: str = "mdp", gammas=GAMMAS, keep_fraction: float = 0.9,
                 empty_agreement: str = "largest", exact_keep: bool = False, glancing: str = "residual",
                 warmup_transitions: str = "all", glance_start: float = 0.5, glance_end: float = 0.1,
                 alpha_period: int = 0, **base):
        super().__init__(**base)
        if len(self.decoder) % layers_per_transition:
            raise ValueError(f"decoder_layers={len(self.decoder)} is not a multiple of "
                             f"layers_per_transition={layers_per_transition}")
        if diffusion not in PROCESSES:
            raise ValueError(f"diffusion {diffusion!r} is not one of {PROCESSES}")
        if glancing not in GLANCING:
            raise ValueError(f"glancing {glancing!r} is not one of {GLANCING}")
        if warmup_transitions not in WARMUP_TRANSITIONS:
            raise ValueError(f"warmup_transitions {warmup_transitions!r} is not one of {WARMUP_TRANSITIONS}")
        self.layers_per_transition, self.iterations = layers_per_transition, iterations
        self.diffusion, self.mdp_rule = diffusion, MdpRule(tuple(gammas), keep_fraction, empty_agreement, exact_keep)
        self.diffusion_warmup, self.glancing, self.warmup_transitions = diffusion_warmup, glancing, warmup_transitions
        self.schedule = GlanceSchedule(glance_start, glance_end, glance_steps, alpha_period)

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
        x, pad = self.decoder_input(src, memory_pad, lengths)
        return self.outputs(self.run_transitions(x, pad, memory, memory_pad, count), pad, (count,))

    # ---- training -----------------------------------------------------------------------------
    def forward_batch(self, batch: dict, output_layers: tuple[int, ...], step: int = 0) -> DecoderOutput:
        """Warm-up on y0 (every transition, or one), then one transition drawn uniformly (mu = 1/T)
        trained against its intermediate target (output_layers: unused, the model picks)."""
        if step < self.diffusion_warmup and self.warmup_transitions != "sampled":
            return self.train_all_on_target(batch, step)
        return self.train_transition(batch, int(torch.randint(1, self.diffusion_steps + 1, ())), step)

    def warmup_depth(self, step: int) -> int:
        """Transitions the warm-up update `step` (0-based) unrolls: all T, or (progressive) one more
        pass every diffusion_warmup / iterations updates (a warm-up shorter than the iterations
        skips passes)."""
        if self.warmup_transitions == "all":
            return self.diffusion_steps
        passes = min(self.iterations, 1 + step * self.iterations // self.diffusion_warmup)
        return passes * self.transitions_per_pass

    def train_all_on_target(self, batch: dict, step: int) -> DecoderOutput:
        """Warm-up step: every unrolled transition predicts y0, with GLAT's glancing at the decoder
        input chosen on the last transition's pass-1 prediction. -> transitions 1..warmup_depth."""
        src, T = batch["src"], self.warmup_depth(step)
        y0 = self.diffusion_target(batch)
        memory, memory_pad = self.encode(src)
        x, pad = self.decoder_input(src, memory_pad, self.training_lengths(batch))
        replay = RandomState(src.device)
        with torch.no_grad():
            first = self.run_transitions(x, pad, memory, memory_pad, T)
            last = self.outputs(first, pad, (T,))
            positions, labels = self.align(last, y0)
            labelled = labels != self.pad
            counts = glance_count(best_tokens(last.logits), labels, ~labelled, self.schedule.ratio(step))
            glanced = glancing_mask(labelled, counts)
        after = RandomState(src.device)
        replay.restore()  # pass 2 draws pass 1's dropout masks again
        states = self.run_transitions(self.glance(0, x, glanced, labels), pad, memory, memory_pad, T)
        after.restore()
        return self.training_output(states, pad, memory, memory_pad, tuple(range(1, T + 1)), y0, glanced, positions)

    def run_transitions(self, x, pad, memory, memory_pad, stop: int, start: int = 0) -> list[torch.Tensor]:
        """Transitions start..stop-1 (0-based) from x [B, L, D], the input of transition `start`:
        -> the output states of each [B, L, D]."""
        states = []
        for s in range(start, stop):
            x = self.transition(s, x, pad, memory, memory_pad)
            states.append(x)
        return states

    def training_output(self, states, pad, memory, memory_pad, keys, target, glanced, positions) -> DecoderOutput:
        output = self.outputs(states, pad, keys)
        if self.length is not None:
            output.length_logits = self.length(memory, memory_pad)
        output.target, output.glanced = target, glanced
        self.mark_glanced(output, positions)
        return output

    def train_transition(self, batch: dict, s: int, step: int) -> DecoderOutput:
        """Pass 1, intermediate target, glancing, pass 2 for the s-th transition (1-based, decoding
        order), which predicts y_{T-s}: t - 1 in the paper. See the module docstring."""
        src, T = batch["src"], self.diffusion_steps
        level = T - s
        y0 = self.diffusion_target(batch)  # [B, n]
        warm = step < self.diffusion_warmup or level == 0
        mdp = self.diffusion == "mdp" and not warm
        at_input = self.glancing == "input"

        memory, memory_pad = self.encode(src)
        x, pad = self.decoder_input(src, memory_pad, self.training_lengths(batch))
        # Layer-wise glancing: transitions 1..s-1 are the same in both passes, computed once with gradients.
        shared = self.run_transitions(x, pad, memory, memory_pad, 0 if at_input else s - 1)
        replay = RandomState(src.device)
        with torch.no_grad():  # pass 1 of transition s (and s + 1, whose prediction the MDP reads)
            rest = self.run_transitions(([x] + shared)[-1], pad, memory, memory_pad, s + 1 if mdp else s,
                                           start=len(shared))
            states = shared + rest  # the outputs of transitions 1..s (and s + 1)
            trained = self.outputs(states, pad, (s,))
            diffusion_stats = {}
            if warm:
                target = y0
            elif mdp:
                chain = self.mdp_chain(states, pad, y0, s)  # [s, B, n]: ỹ for transitions 1..s
                target = chain[-1]
                diffusion_stats = {i + 1: differ_fraction(chain[i], y0) for i in range(s)}
            else:
                target = d3pm_target(y0, level, T, self.diffusion, self.embed.num_embeddings)
                diffusion_stats = {s: differ_fraction(target, y0)}

            positions, labels = self.align(trained, target)  # ỹ on transition s's own prediction
            labelled = labels != self.pad
            counts = glance_count(best_tokens(trained.logits), labels, ~labelled, self.schedule.ratio(step))
            allowed = labelled
            if self.glancing == "residual" and s > 1:  # only what the input (transition s - 1's prediction) got wrong
                previous = torch.full_like(labels, -1)
                previous[labelled] = best_tokens(self.project(states[s - 2][labelled]))  # only where it matters
                allowed = allowed & (previous != labels)
            glanced = glancing_mask(allowed, counts)

        after = RandomState(src.device)
        replay.restore()  # pass 2 draws pass 1's dropout masks again
        if at_input:  # GLAT: the glanced tokens replace the decoder input; transitions 1..s rerun
            second = self.run_transitions(self.glance(0, x, glanced, labels), pad, memory, memory_pad, s)
        else:
            inputs = ([x] + shared)[s - 1]
            second = shared + [self.transition(s - 1, self.glance(s - 1, inputs, glanced, labels), pad, memory, memory_pad)]
        after.restore()
        output = self.training_output(second, pad, memory, memory_pad, (s,), target, glanced, positions)
        output.diffusion_stats = diffusion_stats
        return output

    def mdp_chain(self, states, pad, y0, s: int) -> torch.Tensor:
        """The MDP targets of transitions 1..s from pass-1 states of transitions 1..s+1 -> [s, B, n].

        Each transition's prediction is read on its own alignment of y0 (for a DAG, its own best path)."""
        reads = []
        for i in range(s + 1):
            output = self.outputs(states, pad, (i + 1,))
            at = self.align(output, y0)[0]  # [B, n]: decoder position of each target position, -1: none
            index = at.clamp(min=0)[..., None].expand(-1, -1, output.logits.shape[-1])
            reads.append(read_positions(output.logits.gather(1, index), at >= 0, y0))
        # chain step j = 0..s-1 builds ỹ_{T-1-j}: interpolate with transition j+2's prediction,
        # pick gamma on the agreement of transition j's (none for the first transition)
        margin = torch.stack([r[1] for r in reads[1:]])
        other = torch.stack([r[2] for r in reads[1:]])
        agree = torch.stack([torch.zeros_like(y0, dtype=torch.bool)] + [r[0] == y0 for r in reads[: s - 1]])
        return modality_diffusion(y0, margin, other, agree, self.mdp_rule)

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
        path = dag_path(output, target, self.pad)  # [B, n]
        return path, _scatter_labels(path, target, output.logits.shape[1], self.pad)

    def mark_glanced(self, output, positions):
        # the target position each glanced vertex was shown; the DAG loss pins it there
        index = torch.arange(positions.shape[1], device=positions.device).expand_as(positions)
        vertex_position = _scatter_labels(positions, index, output.glanced.shape[1], -1)
        output.forced_alignment = vertex_position.masked_fill(~output.glanced, -1)


class DiffGLATCTC(DiffusionGlancing, CTCNAT):
    """DiffGLAT on CTC (appendix C, Table 8): CTC loss against the intermediate target."""

    def align(self, output, target):
        frames = ctc_frames(output, target, self.pad)  # [B, S] labels, -1 past the end or if infeasible
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
