"""Neural HMM over latent frames: exact forward algorithm for training, tempered sampling for speech.

Left-to-right, no skips. Each frame t in state n emits a diagonal Gaussian and then either stays
or moves on with probability tau[t, n]. The parameters come from two sources: the text (one vector
per state) and an autoregressive context (a prenet + LSTM over the previous frame).

Why the emission is factorised. A measured prototype spent most of each CPU step on the backward
pass through a (batch x frames x states x mel) tensor, the price of running an output net on every
(frame, state) pair. Here the net runs once per state and once per frame, and the two are combined
in closed form:
    mean[t, n]  = a[n] + b[t]            (text part + context part)
    std[t, n]   = sigma[n] * s[t]
    logit[t, n] = c[n] + d[t]            (transition)
so sum_d (x - mean)^2 / std^2 expands into three matrix products and the largest tensor is
(batch x frames x states). The text part carries what is said, the context part how the current
frame continues the previous one.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tts_temp.sampling.temperature import sample_gaussian_rows
from tts_temp.tts.defaults import COQUI_DURATION_THRESHOLD

NEG = -1e30  # stands in for log(0): unlike -inf, logaddexp of two of these has a finite gradient


@dataclass
class Emissions:
    """Per-state and per-frame parameters; see the module docstring for how they combine."""

    a: torch.Tensor      # (B, N, D) text part of the mean
    sigma: torch.Tensor  # (B, N, D) text part of the std
    c: torch.Tensor      # (B, N)    text part of the transition logit
    b: torch.Tensor      # (B, T, D) context part of the mean
    s: torch.Tensor      # (B, T, D) context scale of the std
    d: torch.Tensor      # (B, T)    context part of the transition logit


def emission_logprob(x: torch.Tensor, e: Emissions) -> torch.Tensor:
    """log N(x[t] | mean[t, n], std[t, n]) for every frame and state: (B, T, N).

    Computed in float64 because the expansion subtracts large terms when std is small.
    """
    r = (x - e.b).double()
    w = e.s.double().pow(-2)
    v = e.sigma.double().pow(-2)
    a = e.a.double()
    lhs = torch.cat([r * r * w, -2 * r * w, w], dim=-1)          # (B, T, 3D)
    rhs = torch.cat([v, a * v, a * a * v], dim=-1)               # (B, N, 3D)
    quad = lhs @ rhs.transpose(1, 2)                             # (B, T, N)
    log_det = e.s.double().log().sum(-1)[:, :, None] + e.sigma.double().log().sum(-1)[:, None, :]
    dim = x.shape[-1]
    return (-0.5 * quad - log_det - 0.5 * dim * math.log(2 * math.pi)).float()


def _shift_down(x: torch.Tensor) -> torch.Tensor:
    """x[:, n] -> x[:, n-1] (state n receives from n-1); state 0 receives nothing."""
    return torch.cat([torch.full_like(x[:, :1], NEG), x[:, :-1]], dim=1)


def _shift_up(x: torch.Tensor) -> torch.Tensor:
    """x[:, n] -> x[:, n+1] (state n looks ahead to n+1); the last state has no successor."""
    return torch.cat([x[:, 1:], torch.full_like(x[:, :1], NEG)], dim=1)


def _alphas(log_emit, log_stay, log_move):
    """Scaled forward recursion: alpha_hat[t] = alpha[t] - c[t], c[t] = log sum_n exp(alpha[t, n]) - c[<t].

    Each frame's alphas are renormalised to sum to 1 (log-sum 0), and the log scales c[t] are kept:
    log alpha[t] = alpha_hat[t] + sum_{s<=t} c[s]. Unscaled, alpha reaches ~1e5 nats on a 10 s
    utterance, where float32 keeps only ~0.01 nat, and the posteriors exp(alpha + beta - log p) then
    summed to 0.88-1.05 per frame; scaled, every quantity the posteriors use is O(1)-O(100).
    """
    alpha = torch.full_like(log_emit[:, 0], NEG)
    alpha[:, 0] = 0.0
    alpha = alpha + log_emit[:, 0]
    c = torch.logsumexp(alpha, dim=1, keepdim=True)
    alphas, scales = [alpha - c], [c]
    for t in range(1, log_emit.shape[1]):
        prev = alphas[-1]
        alpha = torch.logaddexp(prev + log_stay[:, t - 1], _shift_down(prev + log_move[:, t - 1])) + log_emit[:, t]
        c = torch.logsumexp(alpha, dim=1, keepdim=True)
        alphas.append(alpha - c)
        scales.append(c)
    return torch.stack(alphas, dim=1), torch.cat(scales, dim=1)


class _ForwardBackward(torch.autograd.Function):
    """log p(x) by the forward recursion; its gradient by the backward recursion.

    Autograd through the frame loop would record ~8 nodes per frame and spend most of a training
    step replaying them; the backward recursion gives the same gradients (state and transition
    posteriors) in one loop of plain tensor ops. Both recursions are scaled per frame (see
    `_alphas`), and each frame's posteriors are normalised over that frame: a state posterior
    sums to 1 over states, a transition posterior to 1 over (state, stay | move). That is what they
    are in exact arithmetic, and it keeps float32 rounding from accumulating along the utterance.
    """

    @staticmethod
    def forward(ctx, log_emit, log_stay, log_move, n_frames, n_states):
        alphas, scales = _alphas(log_emit, log_stay, log_move)
        bsz, n_t, _ = log_emit.shape
        idx = torch.arange(bsz, device=log_emit.device)
        last_t, last_n = n_frames - 1, n_states - 1
        inside = torch.arange(n_t, device=log_emit.device)[None] < n_frames[:, None]
        rest = alphas[idx, last_t, last_n] + log_move[idx, last_t, last_n]
        # The sum of ~1e3 scales of ~1e2 each is accumulated in float64 and rounded once.
        ll = (scales.double() * inside).sum(1) + rest.double()
        ctx.save_for_backward(log_emit, log_stay, log_move, n_frames, n_states, alphas)
        return ll.to(log_emit.dtype)

    @staticmethod
    def backward(ctx, grad_ll):
        log_emit, log_stay, log_move, n_frames, n_states, alphas = ctx.saved_tensors
        bsz, n_t, n_n = log_emit.shape
        dev = log_emit.device
        idx = torch.arange(bsz, device=dev)
        end = torch.full((bsz, n_n), NEG, dtype=log_emit.dtype, device=dev)
        end[idx, n_states - 1] = log_move[idx, n_frames - 1, n_states - 1]
        never = torch.full_like(end, NEG)
        # Betas up to a per-frame constant: each frame is renormalised to log-sum 0 (the posteriors
        # below are normalised per frame, so the constants never matter).
        betas = [end] * n_t
        beta = torch.where((n_frames - 1 == n_t - 1)[:, None], end, never)
        betas[-1] = beta
        for t in range(n_t - 2, -1, -1):
            nxt = log_emit[:, t + 1] + beta
            rec = torch.logaddexp(log_stay[:, t] + nxt, log_move[:, t] + _shift_up(nxt))
            rec = rec - torch.logsumexp(rec, dim=1, keepdim=True)
            beta = torch.where((t < n_frames - 1)[:, None], rec, torch.where((n_frames - 1 == t)[:, None], end, never))
            betas[t] = beta
        betas = torch.stack(betas, dim=1)
        # An item without any path (fewer frames than states) has no posterior: zero gradient.
        scale = (grad_ll * feasible(n_frames, n_states).to(log_emit.dtype))[:, None, None]
        frames_in = (torch.arange(n_t, device=dev)[None] < n_frames[:, None])[:, :, None]
        g_emit = torch.where(frames_in, torch.softmax(alphas + betas, dim=2), 0.0)
        nxt = log_emit[:, 1:] + betas[:, 1:]
        nxt_up = torch.cat([nxt[:, :, 1:], torch.full_like(nxt[:, :, :1], NEG)], dim=2)
        stay = alphas[:, :-1] + log_stay[:, :-1] + nxt
        move = alphas[:, :-1] + log_move[:, :-1] + nxt_up
        norm = torch.logsumexp(torch.cat([stay, move], dim=2), dim=2, keepdim=True)
        inside = (torch.arange(n_t - 1, device=dev)[None] < (n_frames - 1)[:, None])[:, :, None]
        g_stay = torch.zeros_like(log_stay)
        g_move = torch.zeros_like(log_move)
        g_stay[:, :-1] = torch.where(inside, torch.exp(stay - norm), 0.0)
        g_move[:, :-1] = torch.where(inside, torch.exp(move - norm), 0.0)
        g_move[idx, n_frames - 1, n_states - 1] = 1.0
        return g_emit * scale, g_stay * scale, g_move * scale, None, None


def forward_algorithm(log_emit: torch.Tensor, logits: torch.Tensor, n_frames: torch.Tensor,
                      n_states: torch.Tensor) -> torch.Tensor:
    """log p(x_1..T) of a left-to-right HMM that starts in state 0 and must leave the last state.

    log_emit, logits: (B, T, N); logits[t, n] is the log-odds of moving n -> n+1 after frame t.
    Vectorised over batch and states; the loop runs over frames only. Returns (B,).

    Exact: the recursions run in float64 whatever the input dtype, scaled per frame, and the
    posteriors (the gradient) are normalised per frame. Before, unscaled float32 log values of ~1e5
    nats left the posteriors summing to 0.88-1.05 per frame at 1,000 frames. Measured on 1,200
    frames: scaling alone in float32 left sums of 0.992-1.003; with per-frame normalisation they sum
    to 1, and in float64 a float32 caller gets posteriors within 3e-8 of a float64 reference (5e-4 in
    float32). The loop's cost is per op, not per element: float64 timed the same as float32 here,
    within the noise of a busy machine.
    An item with fewer frames than states has no path: its value is about -1e30 (finite, with zero
    gradient) and callers must leave it out (see `feasible`).
    """
    dtype = log_emit.dtype
    logits = logits.double()
    ll = _ForwardBackward.apply(log_emit.double(), F.logsigmoid(-logits), F.logsigmoid(logits), n_frames, n_states)
    return ll.to(dtype)


def feasible(n_frames: torch.Tensor, n_states: torch.Tensor) -> torch.Tensor:
    """Which items have at least one path: a left-to-right HMM without skips needs a frame per state."""
    return n_frames >= n_states


@dataclass
class SampleOptions:
    """How to walk the HMM. The temperatures are per batch item, passed beside these options."""
    duration: str = "threshold"          # "threshold" (deterministic) or "sample"
    duration_threshold: float = COQUI_DURATION_THRESHOLD
    speaking_rate: float = 1.0
    max_frames: int = 1000
    prenet_dropout_at_inference: bool = False  # prenet dropout at T > 0 (never at T = 0), drawn per item


# One frame of an autoregressive neural HMM, for the whole batch:
# step(prev_frame (B, D) or None for the go frame, hidden or None, state index (B,))
#   -> emission mean (B, D), emission std (B, D), transition logit (B,), new hidden.
FrameStep = Callable[[torch.Tensor | None, Any, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor, Any]]


def dropout_items(temperatures: torch.Tensor | Sequence[float], opts: SampleOptions) -> torch.Tensor:
    """(B,) which items get prenet dropout at synthesis: only when switched on, and never at T = 0,
    so T = 0 stays the deterministic mean whatever the config says."""
    t = torch.as_tensor(temperatures)
    return (t > 0) & bool(opts.prenet_dropout_at_inference)


def dropout_masks(shape: tuple[int, ...], p: float, active: torch.Tensor,
                  generators: Sequence[torch.Generator | None], device: torch.device | str = "cpu"
                  ) -> torch.Tensor | None:
    """Inverted-dropout masks (B, *shape): drawn from item i's generator where active[i], ones elsewhere.

    F.dropout draws from the global generator; synthesis must depend on the item's seed only.
    """
    if p <= 0 or not bool(active.any()):
        return None
    rows = [((torch.rand(shape, generator=g, device=device) >= p).float() / (1 - p)) if bool(on)
            else torch.ones(shape, device=device) for on, g in zip(active, generators)]
    return torch.stack(rows)


class Prenet(nn.ModuleList):
    """Linear + ReLU layers over the previous frame, with dropout: the prenet of every voice's HMM.

    Training drops units with probability `p` through F.dropout (the global generator, as usual);
    synthesis passes `masks` drawn from each item's own generator (`synthesis_masks`), so an item's
    frames depend on its seed only.
    """

    def __init__(self, n_in: int, dim: int, n_layers: int, bias: bool = True):
        super().__init__(nn.Linear(n_in if i == 0 else dim, dim, bias=bias) for i in range(n_layers))

    def forward(self, x: torch.Tensor, p: float = 0.0, masks: Sequence[torch.Tensor | None] | None = None
                ) -> torch.Tensor:
        for i, layer in enumerate(self):
            x = F.relu(layer(x))
            if masks is not None and masks[i] is not None:
                x = x * masks[i]
            elif p > 0:
                x = F.dropout(x, p, training=True)
        return x

    def synthesis_masks(self, p: float, active: torch.Tensor, generators: Sequence[torch.Generator | None],
                        device: torch.device | str = "cpu") -> list[torch.Tensor | None]:
        """One dropout mask per layer (None where no item drops), layer by layer from each item's generator."""
        return [dropout_masks((layer.out_features,), p, active, generators, device) for layer in self]


@torch.no_grad()
def sample_frames(step: FrameStep, n_states: torch.Tensor, opts: SampleOptions, temperatures: torch.Tensor,
                  generators: Sequence[torch.Generator | None]) -> tuple[torch.Tensor, torch.Tensor]:
    """The sampling loop every voice shares: the whole batch in one pass.

    z = mean + T * std * eps, with T = temperatures[i] and eps drawn from generators[i] for item i,
    so a sweep over temperatures or seeds is one batch and each item's noise depends on its own seed
    only. Durations: "threshold" leaves a state when the running product of stay probabilities
    falls under duration_threshold ** (1 / speaking_rate) (Coqui's `deterministic_transition`);
    "sample" draws the move. An item ends after leaving its last state or at max_frames.
    Returns latent frames (B, T_max, D) (zeros after an item's end) and lengths (B,).
    """
    bsz, dev = len(generators), n_states.device
    temp = temperatures.to(dev, torch.float32)
    state = torch.zeros(bsz, dtype=torch.long, device=dev)
    running_stay = torch.ones(bsz, device=dev)
    lengths = torch.zeros(bsz, dtype=torch.long, device=dev)
    done = torch.zeros(bsz, dtype=torch.bool, device=dev)
    threshold = opts.duration_threshold ** (1.0 / opts.speaking_rate)
    last = int(n_states.max()) - 1
    prev, hidden, out = None, None, []
    for _ in range(opts.max_frames):
        mean, std, logit, hidden = step(prev, hidden, state.clamp(max=last))
        z = sample_gaussian_rows(mean, std, temp, generators)
        z = torch.where(done[:, None], torch.zeros_like(z), z)
        out.append(z)
        lengths += (~done).long()
        if opts.duration == "sample":
            move_p = 1 - torch.sigmoid(-logit) ** opts.speaking_rate
            u = torch.cat([torch.rand(1, generator=g, device=dev) for g in generators])
            move = u < move_p
        else:
            running_stay = running_stay * torch.sigmoid(-logit)
            move = running_stay < threshold
        running_stay = torch.where(move, torch.ones_like(running_stay), running_stay)
        state = state + (move & ~done).long()
        done = done | (state >= n_states)
        if bool(done.all()):
            break
        prev = z
    return torch.stack(out, dim=1), lengths


class NeuralHMM(nn.Module):
    """tts_temp's neural HMM: the factorised emission of the module docstring."""

    def __init__(self, state_dim: int, frame_dim: int, prenet_dim: int = 128, lstm_dim: int = 256,
                 prenet_dropout: float = 0.5, std_floor: float = 0.01):
        super().__init__()
        self.frame_dim = frame_dim
        self.std_floor = std_floor
        self.prenet_dropout = prenet_dropout
        self.prenet = Prenet(frame_dim, prenet_dim, 2)
        self.lstm = nn.LSTM(prenet_dim, lstm_dim, batch_first=True)
        self.state_head = nn.Linear(state_dim, 2 * frame_dim + 1)
        self.frame_head = nn.Linear(lstm_dim, 2 * frame_dim + 1)
        nn.init.zeros_(self.frame_head.weight)
        nn.init.zeros_(self.frame_head.bias)
        self.go_frame = nn.Parameter(torch.zeros(frame_dim))

    def init_transition(self, move_prob: float) -> None:
        """Start every state with the move probability seen in the data (states / frames)."""
        with torch.no_grad():
            self.state_head.bias[-1] = math.log(move_prob / (1 - move_prob))

    def lstm_stepper(self) -> Callable[[torch.Tensor, Any], tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]]:
        """One step of `self.lstm` for (B, input) -> (B, hidden), written out; made once per synthesis.

        The same weights and gate order (i, f, g, o) as nn.LSTM; a call of nn.LSTM on one frame
        is mostly oneDNN set-up, far slower than this written-out step, and synthesis calls it
        every frame.
        The input and recurrent products are one matrix product over [x, h] (weights stacked here,
        biases summed), one call per frame instead of three.
        """
        lstm = self.lstm
        weight = torch.cat([lstm.weight_ih_l0, lstm.weight_hh_l0], dim=1).detach()
        bias = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach()

        def step(x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None):
            if state is None:
                zeros = x.new_zeros(x.shape[0], lstm.hidden_size)
                state = (zeros, zeros)
            h, c = state
            i, f, g, o = F.linear(torch.cat([x, h], dim=-1), weight, bias).chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            return h, (h, c)

        return step

    def lstm_step(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
                  ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One step of `self.lstm` (see `lstm_stepper`, which a loop should make once)."""
        return self.lstm_stepper()(x, state)

    def neutral_emissions(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each state's emission mean, std and transition logit with the frame context neutral (no
        offset, scale 1): the text part a, sigma, c of the factorised emission (module docstring)."""
        d = self.frame_dim
        out = self.state_head(states)
        # std = sigma * s with s in [e^-0.5, e^0.5]; the floor here keeps std >= std_floor.
        sigma = F.softplus(out[..., d:2 * d]) + self.std_floor * math.exp(0.5)
        return out[..., :d], sigma, out[..., -1]

    def frame_params(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        d = self.frame_dim
        out = self.frame_head(h)
        return out[..., :d], torch.exp(0.5 * torch.tanh(out[..., d:2 * d])), out[..., -1]

    def emissions(self, states: torch.Tensor, frames: torch.Tensor) -> Emissions:
        """Teacher-forced parameters for frames (B, T, D): the context sees frames[t-1]."""
        bsz = frames.shape[0]
        prev = torch.cat([self.go_frame.expand(bsz, 1, -1), frames[:, :-1]], dim=1)
        h, _ = self.lstm(self.prenet(prev, self.prenet_dropout if self.training else 0.0))
        a, sigma, c = self.neutral_emissions(states)
        b, s, d = self.frame_params(h)
        return Emissions(a, sigma, c, b, s, d)

    def log_likelihood(self, states: torch.Tensor, n_states: torch.Tensor, frames: torch.Tensor,
                       n_frames: torch.Tensor) -> torch.Tensor:
        """Exact log p(frames | text) per item, (B,)."""
        e = self.emissions(states, frames)
        log_emit = emission_logprob(frames, e)
        logits = e.c[:, None, :] + e.d[:, :, None]
        return forward_algorithm(log_emit, logits, n_frames, n_states)

    @torch.no_grad()
    def sample(self, states: torch.Tensor, n_states: torch.Tensor, opts: SampleOptions,
               temperatures: torch.Tensor, generators: Sequence[torch.Generator | None]
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent frames (B, T_max, D) and lengths (B,) through the shared loop `sample_frames`."""
        bsz, dim = states.shape[0], self.frame_dim
        a, sigma, c = self.neutral_emissions(states)
        per_state = torch.cat([a, sigma, c.unsqueeze(-1)], dim=-1)  # one gather per frame, not three
        idx_b = torch.arange(bsz, device=states.device)
        drop = dropout_items(temperatures, opts)
        lstm_step = self.lstm_stepper()

        def step(prev, hidden, cur):
            x = self.go_frame.expand(bsz, -1) if prev is None else prev
            masks = self.prenet.synthesis_masks(self.prenet_dropout, drop, generators, x.device)
            h, hidden = lstm_step(self.prenet(x, masks=masks), hidden)
            b, s, d = self.frame_params(h)
            here = per_state[idx_b, cur]
            return here[:, :dim] + b, here[:, dim:2 * dim] * s, here[:, -1] + d, hidden

        return sample_frames(step, n_states, opts, temperatures, generators)
