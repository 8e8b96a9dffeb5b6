"""Resumable training of the neural source-filter vocoder on the corpus's recordings and WORLD frames.

Random segments (`segment_frames` frames and their samples) of the training recordings, a
multi-resolution STFT loss, Adam with a halving learning rate. Everything random (segment choice,
the excitation noise) comes from one torch.Generator whose state is checkpointed with the model
and the optimiser, so a resumed run continues exactly where the last one stopped, on any machine.
GPU when there is one, else `threads` CPU threads.
"""
from __future__ import annotations

import math
import os
import signal
import time
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import soundfile as sf
import torch

from tts_temp.audio import atomic_write
from tts_temp.tts import features as features_mod
from tts_temp.tts.neural_vocoder import NeuralSourceFilter, NeuralVocoderConfig, stft_loss, to_dict

CHECKPOINT_FORMAT = "tts_temp.neural_vocoder.checkpoint/1"
RENDER_SETTINGS = {"f0_median", "f0_mean", "voiced_noise_db"}  # vocoder settings an export may change (nothing learnt)


@dataclass
class VocoderTrainConfig:
    features: str = "corpus/features_phonemes_world.pt"
    wavs: str = "corpus/wavs"
    frames_cache: str = "corpus/world_frames"   # per-file frames, used while the features file is missing
    stats_voice: str = "tts_temp/tts/voices/slt-world.pt"  # input statistics then
    reload_every: int = 0         # steps; > 0: re-read frames_cache (a corpus still being analysed)
    out_dir: str = "runs/vocoder-slt"
    segment_frames: int = 48
    batch: int = 8
    lr: float = 1e-3
    lr_half_life: int = 8000      # steps
    total_steps: int = 30000
    grad_clip: float = 1.0
    checkpoint_seconds: float = 300.0
    log_every: int = 20
    seed: int = 0
    threads: int = 2
    # Input noise on a share of the segments: the acoustic model's sampled frames carry independent
    # noise per frame (at T=0.667 about these std devs, measured on slt-world), the recordings' frames none.
    augment_share: float = 0.5
    augment_band_std: float = 0.6   # envelope bands (natural-log power)
    augment_ap_std: float = 2.5     # coded aperiodicity (dB)
    # The voice's voicing flag sits above 0.5 almost everywhere (a 0/1 channel under a Gaussian),
    # so at synthesis unvoiced phones arrive "voiced": on this share of the segments every frame is
    # flagged voiced, and the network learns to silence the pulses where the frames say noise.
    augment_voiced_share: float = 0.5


def load_config(path: str | os.PathLike) -> tuple[NeuralVocoderConfig, VocoderTrainConfig]:
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    for section, cls in (("vocoder", NeuralVocoderConfig), ("train", VocoderTrainConfig)):
        unknown = set(raw.get(section, {})) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown [{section}] keys: {sorted(unknown)}")
    return (NeuralVocoderConfig.from_dict(raw.get("vocoder", {})),
            VocoderTrainConfig(**raw.get("train", {})))


@dataclass
class Corpus:
    """Training frames (de-normalised WORLD frames) and the matching recordings."""

    frames: list[torch.Tensor]   # (dim, T)
    wavs: list[torch.Tensor]     # (T * hop,), zero-padded at the end when the recording is shorter
    mean: torch.Tensor           # (dim,) the features' statistics, the network's input scaling
    std: torch.Tensor
    spec: dict


def analyse_to_cache(wav_dir: Path, cache_dir: Path, names: list[str], spec: dict, workers: int = 2) -> int:
    """WORLD-analyse the named recordings into cache_dir/NAME.pt, one file each (skipping those
    there), so training can start on the first ones while the rest are analysed."""
    from concurrent.futures import ProcessPoolExecutor

    cache_dir.mkdir(parents=True, exist_ok=True)
    todo = [n for n in names if not (cache_dir / f"{n}.pt").exists()]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_analyse_one, [str(wav_dir / f"{n}.wav") for n in todo],
                      [str(cache_dir / f"{n}.pt") for n in todo], [spec] * len(todo)))
    return len(todo)


def _analyse_one(wav_path: str, out: str, spec: dict) -> None:
    from tts_temp.tts import frames as frames_mod

    wav, _ = sf.read(wav_path, dtype="float32")
    with atomic_write(out) as tmp:
        torch.save(frames_mod.analyse(wav, spec), tmp)


def _cached(cfg: VocoderTrainConfig) -> list[Path]:
    """Finished cache files (not the hidden temporary files atomic writes leave while in flight)."""
    return sorted(p for p in Path(cfg.frames_cache).glob("*.pt") if not p.name.startswith("."))


def load_corpus(cfg: VocoderTrainConfig, hop: int) -> Corpus:
    """The features file when it exists; else whatever cfg.frames_cache holds so far, with the
    statistics of cfg.stats_voice (the voice's own, computed on the same corpus)."""
    if Path(cfg.features).exists():
        feats = features_mod.load(Path(cfg.features))
        if feats.spec["kind"] != "world":
            raise ValueError(f"{cfg.features}: the neural vocoder needs WORLD frames, not {feats.spec['kind']}")
        pairs, mean, std, spec = list(zip(feats.names, feats.frames)), feats.mean, feats.std, feats.spec
    else:
        d = torch.load(cfg.stats_voice, map_location="cpu", weights_only=True)
        mean, std, spec = d["mean"], d["std"], d["features"]
        files = _cached(cfg)
        if not files:
            raise ValueError(f"neither {cfg.features} nor frames in {cfg.frames_cache}")
        pairs = [(f.stem, torch.load(f, weights_only=True)) for f in files]
    frames, wavs = [], []
    for name, fr in pairs:
        wav, _ = sf.read(str(Path(cfg.wavs) / f"{name}.wav"), dtype="float32")
        w = torch.zeros(fr.shape[1] * hop)
        n = min(len(w), len(wav))
        w[:n] = torch.from_numpy(wav[:n])
        frames.append(fr.float())
        wavs.append(w)
    return Corpus(frames, wavs, torch.as_tensor(mean).reshape(-1), torch.as_tensor(std).reshape(-1), spec)


def sample_batch(corpus: Corpus, batch: int, seg: int, hop: int, g: torch.Generator) -> tuple[torch.Tensor, ...]:
    """`batch` random segments, items chosen in proportion to their length."""
    lengths = torch.tensor([f.shape[1] for f in corpus.frames], dtype=torch.float64)
    weights = (lengths - seg).clamp(min=0)
    idx = torch.multinomial(weights, batch, replacement=True, generator=g)
    xs, ys = [], []
    for i in idx.tolist():
        start = int(torch.randint(0, int(lengths[i]) - seg + 1, (1,), generator=g))
        xs.append(corpus.frames[i][:, start: start + seg])
        ys.append(corpus.wavs[i][start * hop: (start + seg) * hop])
    return torch.stack(xs), torch.stack(ys)


def augment(x: torch.Tensor, vcfg: NeuralVocoderConfig, cfg: VocoderTrainConfig, g: torch.Generator) -> torch.Tensor:
    """Make training frames look like sampled ones: Gaussian noise on the bands and aperiodicity of
    `augment_share` of the segments, each at a random fraction of the configured std (F0 untouched:
    the pitch must stay the recording's, or the loss would blame the filter for it), and the
    voicing flag set on every frame of `augment_voiced_share` of them."""
    b, dim, t = x.shape
    chosen = (torch.rand(b, generator=g) < cfg.augment_share).float() * torch.rand(b, generator=g)
    std = torch.zeros(dim)
    std[: vcfg.n_mels] = cfg.augment_band_std
    std[vcfg.vuv + 1:] = cfg.augment_ap_std
    noise = torch.randn(x.shape, generator=g) * std[None, :, None] * chosen[:, None, None]
    x = x + noise
    all_voiced = torch.rand(b, generator=g) < cfg.augment_voiced_share
    x[all_voiced, vcfg.vuv] = 1.0
    return x


@torch.no_grad()
def calibrate_levels(model: NeuralSourceFilter, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> None:
    """Set the two branch levels so harmonic + noise power matches the recordings' (least squares
    on STFT power), so training starts at the right loudness instead of spending steps on it."""
    fr = model.smoothed(x)
    harm, noise_env = model.envelopes(fr)
    h = model.render(fr, harm, noise_env.new_full(noise_env.shape, -30.0), g)
    n = model.render(fr, harm.new_full(harm.shape, -30.0), noise_env, g)
    win = torch.hann_window(1024, device=x.device)
    p = [torch.stft(s, 1024, 256, 1024, win, return_complex=True).abs().pow(2).reshape(-1) for s in (h, n, y)]
    a = torch.stack(p[:2], dim=1).double()
    coef = torch.linalg.lstsq(a, p[2].double()[:, None]).solution[:, 0].clamp(min=1e-8)
    model.level.add_(0.5 * coef.log().float())


@dataclass
class State:
    step: int = 0
    seconds: float = 0.0
    loss: float = float("nan")
    skipped: int = 0   # steps whose loss or gradient was not finite: counted, not applied


class VocoderTrainer:
    def __init__(self, vcfg: NeuralVocoderConfig, cfg: VocoderTrainConfig, log=print, corpus: Corpus | None = None):
        self.vcfg, self.cfg, self.log = vcfg, cfg, log
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.type == "cpu":
            torch.set_num_threads(cfg.threads)
        self.corpus = corpus or load_corpus(cfg, vcfg.hop_length)
        if self.corpus.frames[0].shape[0] != vcfg.dim:
            raise ValueError(f"frames have {self.corpus.frames[0].shape[0]} channels, the vocoder expects {vcfg.dim}")
        self.gen = torch.Generator()  # on the CPU: weights, batches and noise are drawn here
        self.gen.manual_seed(cfg.seed)
        self.model = NeuralSourceFilter(vcfg, self.corpus.mean, self.corpus.std)
        self.model.init_weights(self.gen)
        self.model.to(self.device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.state = State()
        self.out = Path(cfg.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        if self.last_path.exists():
            self._resume()
        else:
            x, y = sample_batch(self.corpus, self.cfg.batch, self.cfg.segment_frames, vcfg.hop_length, self.gen)
            calibrate_levels(self.model, x.to(self.device), y.to(self.device), self.gen)
            self.log(f"levels calibrated: {self.model.level.tolist()}")

    def reload(self) -> None:
        """Pick up recordings analysed since the corpus was read (frames_cache still filling)."""
        if Path(self.cfg.features).exists():
            return
        n = len(self.corpus.frames)
        if len(_cached(self.cfg)) > n:
            self.corpus = load_corpus(self.cfg, self.vcfg.hop_length)
            self.log(f"corpus: {n} -> {len(self.corpus.frames)} recordings")

    @property
    def last_path(self) -> Path:
        return self.out / "last.pt"

    def checkpoint(self) -> dict:
        return {"format": CHECKPOINT_FORMAT, "vocoder": to_dict(self.model),
                "optimizer": self.opt.state_dict(), "generator": self.gen.get_state(),
                "state": asdict(self.state), "train_config": asdict(self.cfg)}

    def save(self, path: Path | None = None) -> Path:
        path = path or self.last_path
        if not all(torch.isfinite(p).all() for p in self.model.parameters()):
            raise RuntimeError(f"non-finite weights at step {self.state.step}: not saved over {path}")
        with atomic_write(path) as tmp:
            torch.save(self.checkpoint(), tmp)
        return path

    def _resume(self, path: Path | None = None) -> None:
        d = torch.load(path or self.last_path, map_location=self.device, weights_only=True)
        if d.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{self.last_path}: not a vocoder checkpoint")
        if NeuralVocoderConfig.from_dict(d["vocoder"]["config"]) != self.vcfg:
            raise ValueError(f"{self.last_path}: trained with another vocoder config")
        self.model.load_state_dict(d["vocoder"]["state_dict"])
        self.opt.load_state_dict(d["optimizer"])
        self.gen.set_state(d["generator"])
        self.state = State(**d["state"])
        self.log(f"resumed {self.last_path} at step {self.state.step} ({self.state.seconds / 60:.1f} min)")

    def lr(self, step: int) -> float:
        return self.cfg.lr * 0.5 ** (step / self.cfg.lr_half_life)

    def step(self) -> float:
        x, y = sample_batch(self.corpus, self.cfg.batch, self.cfg.segment_frames, self.vcfg.hop_length, self.gen)
        x = augment(x, self.vcfg, self.cfg, self.gen)
        x, y = x.to(self.device), y.to(self.device)
        for group in self.opt.param_groups:
            group["lr"] = self.lr(self.state.step)
        self.model.train()
        pred = self.model(x, self.gen if self.device.type == "cpu" else _device_gen(self.gen, self.device))
        loss = stft_loss(pred, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.state.step += 1
        if not (torch.isfinite(loss) and torch.isfinite(norm)):
            # One non-finite gradient would make every weight NaN for good (and the next checkpoint
            # with them, as a 1,008-recording run did at step 11,220): the batch is skipped instead,
            # its draws still taken, so a resumed run stays in step.
            self.opt.zero_grad(set_to_none=True)
            self.state.skipped += 1
            self.log(f"step {self.state.step}: loss {float(loss.detach()):.4g}, gradient norm {float(norm):.4g}: skipped")
            return float("nan")
        self.opt.step()
        return float(loss.detach())

    def run(self, max_steps: int | None = None, max_seconds: float | None = None) -> State:
        stop = {"now": False}

        def on_stop(signum, frame):
            stop["now"] = True

        old = signal.signal(signal.SIGTERM, on_stop) if _main_thread() else None
        t_start = time.time()
        last_save = time.time()
        acc, n = 0.0, 0
        end = self.cfg.total_steps if max_steps is None else min(self.cfg.total_steps, self.state.step + max_steps)
        try:
            while self.state.step < end and not stop["now"]:
                t0 = time.time()
                loss = self.step()
                if math.isfinite(loss):
                    acc += loss
                    n += 1
                self.state.seconds += time.time() - t0
                if self.state.step % self.cfg.log_every == 0:
                    self.state.loss = acc / n if n else float("nan")
                    self.log(f"step {self.state.step} loss {self.state.loss:.4f} lr {self.lr(self.state.step):.2e} "
                             f"{self.state.seconds / 60:.1f} min")
                    acc, n = 0.0, 0
                if self.cfg.reload_every and self.state.step % self.cfg.reload_every == 0:
                    self.reload()
                if time.time() - last_save > self.cfg.checkpoint_seconds:
                    self.save()
                    last_save = time.time()
                if max_seconds is not None and time.time() - t_start > max_seconds:
                    break
        except KeyboardInterrupt:
            self.log("interrupted")
        finally:
            self.save()
            if old is not None:
                signal.signal(signal.SIGTERM, old)
        return self.state


def _device_gen(g: torch.Generator, device: torch.device) -> torch.Generator:
    """A device generator seeded from the CPU generator (so the checkpointed state still decides it)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=g))
    dg = torch.Generator(device=device)
    dg.manual_seed(seed)
    return dg


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def export(checkpoint: str | os.PathLike, **render) -> dict:
    """A checkpoint -> the shippable vocoder dict (weights only, plain tensors). `render` overrides
    settings that act at rendering only (f0_median, f0_mean, voiced_noise_db), not the learnt weights."""
    d = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if d.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{checkpoint}: not a vocoder checkpoint")
    unknown = set(render) - RENDER_SETTINGS
    if unknown:
        raise ValueError(f"not rendering settings: {sorted(unknown)}")
    out = dict(d["vocoder"])
    out["config"] = NeuralVocoderConfig.from_dict({**out["config"], **render}).to_dict()
    return out


def attach_to_voice(voice_path: str | os.PathLike, vocoder: dict, out: str | os.PathLike, name: str) -> Path:
    """Copy a voice file with the neural vocoder as its vocoder (the weights live inside the voice)."""
    d = torch.load(voice_path, map_location="cpu", weights_only=True)
    if d.get("features", {}).get("kind") != "world":
        raise ValueError(f"{voice_path}: the neural vocoder renders WORLD frames")
    d["vocoder"] = {"kind": "neural-sf", **vocoder}
    d.setdefault("meta", {})["vocoder"] = name
    with atomic_write(out) as tmp:
        torch.save(d, tmp)
    return Path(out)

