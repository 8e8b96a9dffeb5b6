"""Resumable training: plain neural HMM first, then the flow added as an identity and trained jointly.

Why two phases: trained jointly from scratch on this kind of machine, the flow learnt to model the
frames by itself and the output ignored the text. A plain neural HMM must explain every frame
from the state it is in, so it learns the alignment first; the flow, starting as the exact
identity, can then only improve on a model that already uses the text.

Resumption is exact in what matters: model, optimiser, step, epoch position and elapsed time are
in `last.pt`, written atomically; Ctrl-C or SIGTERM saves before exiting.
"""
from __future__ import annotations

import dataclasses
import math
import os
import signal
import time
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from torch import nn

from tts_temp.audio import atomic_write
from tts_temp.errors import UserError
from tts_temp.tts import features as features_mod
from tts_temp.tts import frames as frames_mod
from tts_temp.tts.defaults import COQUI_DURATION_THRESHOLD
from tts_temp.tts.hmm import SampleOptions, feasible
from tts_temp.tts.model import ModelConfig, OverFlow
from tts_temp.tts.text import SYMBOLS
from tts_temp.tts.voice import Voice


@dataclass
class TrainConfig:
    features: str = "corpus/features_phonemes.pt"
    out_dir: str = "runs/voice-small"
    batch_frames: int = 3200
    max_batch: int = 16
    lr: float = 1e-3
    flow_lr: float = 5e-4
    hmm_steps: int = 4000          # plain neural HMM phase
    total_steps: int = 8000        # then HMM + flow
    grad_clip: float = 5.0
    checkpoint_seconds: float = 300.0
    log_every: int = 10
    seed: int = 0
    threads: int = 2
    init_from: str = ""           # a voice to start from when there is no last.pt


def _section(cls, d: dict):
    names = {f.name for f in fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
    return d


def load_config(path: str | os.PathLike) -> tuple[ModelConfig, TrainConfig]:
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    model = ModelConfig(n_symbols=len(SYMBOLS), **_section(ModelConfig, raw.get("model", {})))
    train = TrainConfig(**_section(TrainConfig, raw.get("train", {})))
    return model, train


def make_batches(lengths: list[int], batch_frames: int, max_batch: int) -> list[list[int]]:
    """Length-bucketed batches: similar lengths together, so little compute goes to padding."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches, cur = [], []
    for i in order:
        if cur and (len(cur) + 1) * lengths[i] > batch_frames or len(cur) >= max_batch:
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


def pad_ids(ids: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Symbol id sequences -> (B, L_max) padded with the pad id 0, and their lengths."""
    lengths = torch.tensor([len(x) for x in ids])
    return nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=0), lengths


def collate(feats: features_mod.Features, idx: list[int], device) -> tuple[torch.Tensor, ...]:
    ids_pad, id_lengths = pad_ids([feats.ids[i] for i in idx])
    mels = [feats.normalised(i) for i in idx]
    mel_lengths = torch.tensor([m.shape[1] for m in mels])
    mel_pad = torch.zeros(len(idx), mels[0].shape[0], int(mel_lengths.max()))
    for j, m in enumerate(mels):
        mel_pad[j, :, : m.shape[1]] = m
    return ids_pad.to(device), id_lengths.to(device), mel_pad.to(device), mel_lengths.to(device)


def usable_items(feats: features_mod.Features, states_per_phone: int, log=print) -> list[int]:
    """Indices of the utterances the HMM can align; the others are left out, with one warning line.

    A left-to-right HMM without skips needs at least one frame per state. With fewer frames the
    forward algorithm's value is a finite stand-in for log 0 (about -1e30) that would pass the loss's
    finiteness check and swamp the batch, so such an utterance is never trained on.
    """
    n_states = torch.tensor([len(x) * states_per_phone for x in feats.ids])
    n_frames = torch.tensor([m.shape[1] for m in feats.frames])
    ok = feasible(n_frames, n_states)
    skipped = [feats.names[i] for i in range(len(feats.names)) if not ok[i]]
    if skipped:
        shown = ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")
        log(f"warning: skipping {len(skipped)} utterance(s) with fewer frames than HMM states: {shown}")
    if not bool(ok.any()):
        raise UserError("no utterance in the features has at least as many frames as HMM states")
    return [i for i in range(len(feats.names)) if ok[i]]


@dataclass
class TrainState:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    seconds: float = 0.0
    history: list = field(default_factory=list)


class Trainer:
    def __init__(self, model_cfg: ModelConfig, cfg: TrainConfig, log=print):
        self.cfg, self.log = cfg, log
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.type == "cpu":
            torch.set_num_threads(cfg.threads)
        self.feats = features_mod.load(Path(cfg.features))
        channels = self.feats.frames[0].shape[0]
        if model_cfg.frame_dim != channels:  # the frame size is the features', not a separate setting
            model_cfg = dataclasses.replace(model_cfg, frame_dim=channels)
        self.model = OverFlow(model_cfg).to(self.device)
        self.out = Path(cfg.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.state = TrainState()
        self.items = usable_items(self.feats, model_cfg.states_per_phone, log)
        lengths = [self.feats.frames[i].shape[1] for i in self.items]
        self.batches = [[self.items[j] for j in b] for b in make_batches(lengths, cfg.batch_frames, cfg.max_batch)]
        n_states = sum(len(self.feats.ids[i]) for i in self.items) * model_cfg.states_per_phone
        n_frames = sum(lengths)
        self.model.hmm.init_transition(min(0.9, n_states / n_frames))
        self.optim = self._optimizer()
        self._resume()

    def _optimizer(self) -> torch.optim.Optimizer:
        lr = self.cfg.flow_lr if self.model.flow_active else self.cfg.lr
        return torch.optim.Adam(self.model.parameters(), lr=lr)

    @property
    def last_path(self) -> Path:
        return self.out / "last.pt"

    def _resume(self) -> None:
        if self.last_path.exists():
            ck = torch.load(self.last_path, map_location=self.device, weights_only=True)
            self.model.load_state_dict(ck["model"])
            self.optim = self._optimizer()
            self.optim.load_state_dict(ck["optim"])
            self.state = TrainState(**ck["state"])
            self.log(f"resumed from {self.last_path} at step {self.state.step}")
        elif self.cfg.init_from:
            d = torch.load(self.cfg.init_from, map_location=self.device, weights_only=True)
            old_dim = ModelConfig.from_dict(d["model_config"]).frame_dim
            if old_dim == self.model.cfg.frame_dim:
                self.model.load_state_dict(d["state_dict"])
                self.state.step = int(d.get("meta", {}).get("step", 0))
                self.state.seconds = float(d.get("meta", {}).get("train_seconds", 0.0))
                self.log(f"initialised from voice {self.cfg.init_from} at step {self.state.step}")
            else:
                moved = transfer_weights(self.model, d["state_dict"], old_dim)
                self.log(f"warm start from voice {self.cfg.init_from} ({old_dim}-channel frames): "
                         f"{moved} tensors transferred, flow fresh, plain-HMM phase from step 0")
            self.optim = self._optimizer()

    def save(self) -> None:
        with atomic_write(self.last_path) as tmp:
            torch.save({"model": self.model.state_dict(), "optim": self.optim.state_dict(),
                        "state": self.state.__dict__}, tmp)

    def _epoch_order(self, epoch: int) -> list[int]:
        """The batch order of an epoch, a function of (seed, epoch) alone so resuming replays it."""
        if getattr(self, "_order_epoch", None) != epoch:
            g = torch.Generator().manual_seed(self.cfg.seed * 100003 + epoch)
            self._order, self._order_epoch = torch.randperm(len(self.batches), generator=g).tolist(), epoch
        return self._order

    def step(self, idx: list[int]) -> float:
        self.model.train()
        batch = collate(self.feats, idx, self.device)
        loss = self.model.loss(*batch)
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optim.step()
        return loss.item()

    def run(self, max_steps: int | None = None, max_seconds: float | None = None) -> TrainState:
        """Train until total_steps (or the given limits); safe to interrupt at any time."""
        stop = {"flag": False}

        def on_stop(signum, frame):
            stop["flag"] = True

        # Our own handlers for both: a shell starts background jobs with SIGINT ignored, and then
        # Python never raises KeyboardInterrupt, so Ctrl-C / kill -INT would be lost.
        stop_signals = (signal.SIGINT, signal.SIGTERM) if _main_thread() else ()
        old = {sig: signal.signal(sig, on_stop) for sig in stop_signals}
        start, last_ck = time.time(), time.time()
        run_steps, frames, losses, t_log = 0, 0, [], time.time()
        try:
            while self.state.step < self.cfg.total_steps and not stop["flag"]:
                if max_steps is not None and run_steps >= max_steps:
                    break
                if max_seconds is not None and time.time() - start >= max_seconds:
                    break
                if not self.model.flow_active and self.state.step >= self.cfg.hmm_steps:
                    self.model.flow_active = True
                    self.optim = self._optimizer()
                    self.log(f"step {self.state.step}: flow switched on (identity), lr {self.cfg.flow_lr}")
                order = self._epoch_order(self.state.epoch)
                if self.state.batch_in_epoch >= len(order):
                    self.state.epoch += 1
                    self.state.batch_in_epoch = 0
                    continue
                idx = self.batches[order[self.state.batch_in_epoch]]
                t0 = time.time()
                loss = self.step(idx)
                if not math.isfinite(loss):
                    raise FloatingPointError(f"loss is {loss} at step {self.state.step}")
                self.state.seconds += time.time() - t0
                self.state.step += 1
                self.state.batch_in_epoch += 1
                run_steps += 1
                frames += sum(self.feats.frames[i].shape[1] for i in idx)
                losses.append(loss)
                if self.state.step % self.cfg.log_every == 0:
                    dt = time.time() - t_log
                    mean = sum(losses) / len(losses)
                    self.state.history.append([self.state.step, round(self.state.seconds, 1), round(mean, 4)])
                    self.log(f"step {self.state.step} epoch {self.state.epoch} loss {mean:.4f} "
                             f"{frames / dt:.0f} frames/s flow={'on' if self.model.flow_active else 'off'} "
                             f"trained {self.state.seconds / 60:.1f} min")
                    frames, losses, t_log = 0, [], time.time()
                if time.time() - last_ck >= self.cfg.checkpoint_seconds:
                    self.save()
                    last_ck = time.time()
        except KeyboardInterrupt:
            self.log("interrupted: saving checkpoint")
        finally:
            self.save()
            for sig, handler in old.items():
                signal.signal(sig, handler)
        return self.state

    def voice(self, duration_threshold: float | None = None) -> Voice:
        """The current weights as a Voice, with the duration threshold calibrated on training data."""
        self.model.eval()
        cpu_model = OverFlow(self.model.cfg)
        cpu_model.load_state_dict({k: v.cpu() for k, v in self.model.state_dict().items()})
        cpu_model.eval()
        meta = {"step": self.state.step, "train_seconds": round(self.state.seconds, 1),
                "corpus_sha256": self.feats.corpus_sha256, "train_config": dict(self.cfg.__dict__),
                "device": self.device.type, "loss_history": [list(map(float, h)) for h in self.state.history[-200:]]}
        spec = self.feats.spec
        voice = Voice(cpu_model, self.feats.timing, self.feats.mean, self.feats.std, self.feats.frontend,
                      COQUI_DURATION_THRESHOLD, meta, features=spec,
                      vocoder={"kind": frames_mod.VOCODERS[spec["kind"]]})
        if duration_threshold is None:
            duration_threshold = calibrate_threshold(voice, self.feats)
        voice.duration_threshold = duration_threshold
        return voice


# The tensors whose size is the frame's: (name, axis along which the frame channels lie, how many
# blocks of frame channels the axis holds before its extra rows). Heads: [mean | std | transition].
_FRAME_SIZED = {
    "hmm.go_frame": (0, 1),
    "hmm.prenet.0.weight": (1, 1),
    "hmm.state_head.weight": (0, 2),
    "hmm.state_head.bias": (0, 2),
    "hmm.frame_head.weight": (0, 2),
    "hmm.frame_head.bias": (0, 2),
}


def transfer_weights(model: OverFlow, source: dict[str, torch.Tensor], source_dim: int) -> int:
    """Warm-start `model` from a voice trained on other frames; returns how many tensors were moved.

    Why: what is hard to learn (the text encoder, the alignment in the HMM's LSTM, the transition
    logits) does not depend on the frame. The frame-sized tensors get the channels both frames share
    (the first min(dims) channels: for mel -> WORLD, the 80 bands) and keep their fresh initialisation
    elsewhere. The flow starts fresh (its layers are shaped by the frame) and off, so training begins
    with the plain-HMM phase again.
    """
    target = model.state_dict()
    new_dim, n = model.cfg.frame_dim, min(model.cfg.frame_dim, source_dim)
    moved = 0
    with torch.no_grad():
        for name, value in source.items():
            if name.startswith("flow") or name not in target:
                continue
            dst = target[name]
            if name in _FRAME_SIZED:
                axis, blocks = _FRAME_SIZED[name]
                for b in range(blocks):
                    dst.narrow(axis, b * new_dim, n).copy_(value.narrow(axis, b * source_dim, n))
                if value.shape[axis] > blocks * source_dim:  # the transition row
                    dst.narrow(axis, blocks * new_dim, 1).copy_(value.narrow(axis, blocks * source_dim, 1))
            elif dst.shape == value.shape:
                dst.copy_(value)
            else:
                raise ValueError(f"{name}: shape {tuple(value.shape)} does not fit {tuple(dst.shape)}")
            moved += 1
    model.flow_active = False
    return moved


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


@torch.no_grad()
def mean_duration_ratio(voice: Voice, feats: features_mod.Features, threshold: float, items: list[int]) -> float:
    """Synthesised / real frames at T=0 over `items`, all texts in one padded batch."""
    model = voice.model
    pad, lengths = pad_ids([feats.ids[i] for i in items])
    states, n_states = model.encoder(pad, lengths)
    opts = SampleOptions(duration_threshold=threshold, max_frames=3000)
    _, out_len = model.hmm.sample(states, n_states, opts, torch.zeros(len(items)), [None] * len(items))
    real = sum(feats.frames[i].shape[1] for i in items)
    return float(out_len.sum()) / real


def calibrate_threshold(voice: Voice, feats: features_mod.Features, n_items: int = 48, iters: int = 10) -> float:
    """Bisect the stay-probability threshold so that T=0 speech is as long as the training speech.

    A higher threshold leaves states sooner (shorter speech); the ratio is monotone in it.
    """
    step = max(1, len(feats.ids) // n_items)
    items = list(range(0, len(feats.ids), step))[:n_items]
    lo, hi = 0.02, 0.98
    for _ in range(iters):
        mid = (lo + hi) / 2
        if mean_duration_ratio(voice, feats, mid, items) > 1.0:
            lo = mid
        else:
            hi = mid
    return round((lo + hi) / 2, 4)
