#!/usr/bin/env python3
"""TTS quality: intelligibility (Whisper tiny.en CER) and naturalness (Distill-MOS and DNSMOS P.835, proxies) of the
voice at several temperatures, next to the source voice and the source voice after each vocoder's
analysis/synthesis round trip (STFT mel -> Griffin-Lim, and WORLD frames -> WORLD: the ceilings),
on held-out Harvard sentences 701-720; and whether the model uses the text at all.

    python scripts/bench_tts_quality.py [--voice PATH] [--corpus corpus] [--sentences 20] [--seed 0]
                                        [--parts quality verify normalisation]

verify: CER of the same sentences at T=0.667 and T=1 without and with verified synthesis
(tts_temp.verify, default policy), attempts per sentence, how often the fallback fired, and the
time cost (verified seconds / plain synthesis seconds). Scored by the same tiny.en that verifies,
which flatters the verified column; --second-asr base also scores the same wavs with the multilingual base.

normalisation: CER of sentences full of dates, times, money, ordinals, phone numbers, years and
titles, spoken by festival (its own normaliser) and by the voice (T=0.334, seed 0). Run the part
against the old package (PYTHONPATH=OLD_CHECKOUT) for the "before" column.

    python scripts/bench_tts_quality.py --ceilings-only --sentences 12   # source and vocoders, no voice

DNSMOS is Microsoft's non-intrusive quality predictor trained on noisy/enhanced speech; Distill-MOS
(distillmos, installed by scripts/setup.sh) also hears vocoder artefacts (see tts_temp/naturalness.py).
Both are proxies for naturalness, not listening tests; without distillmos its column reads "-".

Text dependence: the per-frame log-likelihood of each held-out recording under its own text minus
under another sentence's text (a model that ignores the text scores 0). Target from issue 3: at
T=0.334 the voice is within 5 CER points of the Griffin-Lim ceiling.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402

from tts_temp.asr import load_model, transcribe  # noqa: E402
from tts_temp.audio import prepare  # noqa: E402
from tts_temp.compare.tts_sweep import DEFAULT_TEMPERATURES  # noqa: E402
from tts_temp.compare.metrics import cer  # noqa: E402
from tts_temp.naturalness import distill_mos, distill_mos_available, dnsmos, mean_dnsmos  # noqa: E402
from tts_temp.tts import SynthesisOptions, load_voice, synthesize_batch  # noqa: E402
from tts_temp.tts import corpus, frames  # noqa: E402
from tts_temp.tts.defaults import COQUI_TEMPERATURE, DEFAULT_TEMPERATURE  # noqa: E402

TEMPERATURES = DEFAULT_TEMPERATURES  # the same temperatures as compare-tts
VERIFY_TEMPERATURES = (DEFAULT_TEMPERATURE, 1.0)
NORMALISATION_SENTENCES = (
    "On 12/05/2024 Dr. Smith paid $3.50 for 2 coffees at 7:30am.",
    "Mr. Jones bought 3 apples for $1.20 each.",
    "The meeting moved to March 3rd, 2024 at 10 p.m.",
    "She was born on 3 March 1999 in St. Louis.",
    "Call 555-123-4567 before 9:15 tomorrow.",
    "Prices rose 5% in the 1990s, to $1.2 million.",
    "He finished 21st out of 102 runners.",
    "Mrs. Brown met Prof. White on 2024-01-15.",
    "The train leaves at 19:45 from platform 4.",
    "It weighs 3 lbs and costs $0.99 at No. 7 Baker St. today.",
    "In 1066 the 2nd army marched 12 km.",
    "Dr. Lee owes Capt. Hook $250 since June 21.",
)


def source_wavs(corpus_dir: Path, utts: list[corpus.Utterance]) -> dict[str, np.ndarray]:
    """The festival recordings of the held-out sentences, built on the fly if the corpus lacks them."""
    missing = [u for u in utts if not (corpus_dir / "wavs" / f"{u.id}.wav").exists()]
    if missing:
        corpus_dir = Path(tempfile.mkdtemp(prefix="tts_temp_heldout_"))
        corpus.build(corpus_dir, utts)
    return {u.id: sf.read(str(corpus_dir / "wavs" / f"{u.id}.wav"), dtype="float32")[0] for u in utts}


def asr_cer(model, wav: np.ndarray, sr: int, text: str) -> float:
    audio = prepare(wav, sr, 16000)
    return cer(text, transcribe(model, audio, temperature=0.0).text)


@torch.no_grad()
def text_dependence(voice, utts, wavs) -> tuple[float, float]:
    """Mean per-frame log-likelihood of each recording under its own vs. a shifted text."""
    model = voice.model.eval()
    own, other = [], []
    ids = [torch.tensor(voice.frontend.ids(u.text)) for u in utts]
    for i, u in enumerate(utts):
        mel = (frames.analyse(wavs[u.id], voice.features) - voice.mean) / voice.std
        mel = mel[:, : mel.shape[1] - mel.shape[1] % model.cfg.squeeze][None]
        n = torch.tensor([mel.shape[2]])
        for store, j in ((own, i), (other, (i + 1) % len(utts))):
            x = ids[j][None]
            store.append(float(model.log_likelihood(x, torch.tensor([x.shape[1]]), mel, n)) / mel.shape[2])
    return float(np.mean(own)), float(np.mean(other))


def verify_part(voice, asr, utts, seed: int, second=None, second_name: str = "") -> None:
    """CER without and with verified synthesis at T=0.667 and T=1; attempts and time cost."""
    import time

    from tts_temp.verify import WhisperRecogniser, synthesize_batch as verified_batch

    rec = WhisperRecogniser(asr)
    print(f"\nverified synthesis, {len(utts)} held-out Harvard sentences, seed {seed}, ASR tiny.en T=0 "
          "(verifies and scores: flatters the verified column)")
    extra = f" CER % plain, {second_name} | CER % verified, {second_name} |" if second is not None else ""
    print("| T | CER % plain | CER % verified | fired | passed | attempts mean | attempts max | "
          "plain s | verified s | cost x |" + extra)
    print("|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if second is not None else ""))
    for t in VERIFY_TEMPERATURES:
        plain, verified, attempts, fired, passed, t_plain, t_ver = [], [], [], 0, 0, 0.0, 0.0
        plain2, verified2 = [], []  # the same wavs scored by an independent recogniser
        for u in utts:
            t0 = time.perf_counter()
            out = synthesize_batch(voice, u.text, [t], [seed], SynthesisOptions())
            t_plain += time.perf_counter() - t0
            t0 = time.perf_counter()
            ver = verified_batch(voice, u.text, [t], [seed], SynthesisOptions(), verify=True, recogniser=rec)
            t_ver += time.perf_counter() - t0
            record = ver.records[0]
            first, kept = record.attempts[0], record.attempts[record.kept]
            assert np.array_equal(out.waveforms[0], ver.waveforms[0]) or record.kept != 0
            plain.append(cer(u.text, first.transcript))
            verified.append(cer(u.text, kept.transcript))
            attempts.append(len(record.attempts))
            if second is not None:
                plain2.append(asr_cer(second, out.waveforms[0], out.sample_rate, u.text))
                verified2.append(asr_cer(second, ver.waveforms[0], ver.sample_rate, u.text))
            fired += record.fired
            passed += record.passed
            print(f"  T={t:g} {u.id}: attempts {len(record.attempts)}, cer {plain[-1]:.3f} -> {verified[-1]:.3f}",
                  flush=True)
        n = len(utts)
        print(f"| {t:g} | {100 * np.mean(plain):.1f} | {100 * np.mean(verified):.1f} | {fired}/{n} | {passed}/{n} | "
              f"{np.mean(attempts):.2f} | {max(attempts)} | {t_plain:.1f} | {t_ver:.1f} | {t_ver / t_plain:.2f} |"
              + (f" {100 * np.mean(plain2):.1f} | {100 * np.mean(verified2):.1f} |" if second is not None else ""),
              flush=True)


def normalisation_part(voice, asr, seed: int) -> None:
    """CER of number-heavy sentences: festival (its own normaliser) vs this voice's front end."""
    festival_dir = Path(tempfile.mkdtemp(prefix="tts_temp_norm_"))
    items = [(s, festival_dir / f"{i:02d}.wav") for i, s in enumerate(NORMALISATION_SENTENCES)]
    corpus.festival_batch(items)
    sr = voice.timing.sample_rate
    fest, ours = [], []
    print(f"\ntext normalisation, {len(items)} sentences; voice T={COQUI_TEMPERATURE:g} seed {seed}; ASR tiny.en T=0")
    for text, path in items:
        wav, fsr = sf.read(str(path), dtype="float32")
        fest.append(asr_cer(asr, wav, fsr, text))
        out = synthesize_batch(voice, text, [COQUI_TEMPERATURE], [seed], SynthesisOptions())
        ours.append(asr_cer(asr, out.waveforms[0], sr, text))
        print(f"  festival {fest[-1]:.3f}  voice {ours[-1]:.3f}  {text}", flush=True)
    print("| speaker | CER % |\n|---|---|")
    print(f"| festival slt (its own normaliser) | {100 * np.mean(fest):.1f} |")
    print(f"| tts_temp voice, T={COQUI_TEMPERATURE:g} (this checkout's normaliser) | {100 * np.mean(ours):.1f} |")


def ceilings() -> dict[str, tuple[dict, dict]]:
    """Row name -> (feature spec, vocoder spec) of each vocoder's analysis/synthesis round trip."""
    return {"source -> mel -> Griffin-Lim": (frames.mel_spec(), {"kind": "griffin-lim"}),
            "source -> WORLD frames -> WORLD": (frames.world_spec(), {"kind": "world"})}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voice", type=Path, default=None)
    ap.add_argument("--corpus", type=Path, default=Path("corpus"))
    ap.add_argument("--sentences", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parts", nargs="+", choices=["quality", "verify", "normalisation"],
                    default=["quality", "verify", "normalisation"])
    ap.add_argument("--ceilings-only", action="store_true", help="only the source and the vocoder round trips")
    ap.add_argument("--second-asr", default=None, metavar="MODEL",
                    help="verify part: also score plain and verified outputs with this recogniser (e.g. base), "
                         "since verifying and scoring with the same tiny.en flatters the result")
    args = ap.parse_args()
    voice = None if args.ceilings_only else load_voice(args.voice)
    asr = load_model("tiny.en")
    utts = [u for u in corpus.harvard() if u.split == "test"][: args.sentences]
    if "normalisation" in args.parts:
        normalisation_part(voice, asr, args.seed)
    if "verify" in args.parts:
        second = load_model(args.second_asr) if args.second_asr else None
        verify_part(voice, asr, utts, args.seed, second, args.second_asr or "")
    if "quality" not in args.parts:
        return 0
    wavs = source_wavs(args.corpus, utts)
    sr = 22050
    source = "source voice (festival slt)"
    cers: dict[str, list[float]] = {source: []}
    moses: dict[str, list] = {source: []}
    heard: dict[str, list] = {source: []}   # 16 kHz copies, scored by Distill-MOS in one batch per condition
    rounds = {name: (spec, frames.make_vocoder(voc, spec)) for name, (spec, voc) in ceilings().items()}
    for name in rounds:
        cers[name], moses[name], heard[name] = [], [], []
    if voice is not None:
        own = next(n for n, (spec, _) in ceilings().items() if spec["kind"] == voice.features["kind"])
        for t in TEMPERATURES:
            cers[f"tts_temp voice, T={t:g}"], moses[f"tts_temp voice, T={t:g}"] = [], []
            heard[f"tts_temp voice, T={t:g}"] = []
    ratios = []

    def score(name, wav, text):
        cers[name].append(asr_cer(asr, wav, sr, text))
        wav16 = prepare(wav, sr, 16000)
        moses[name].append(dnsmos(wav16, 16000))
        heard[name].append(wav16)

    for u in utts:
        src = wavs[u.id]
        score(source, src, u.text)
        for name, (spec, vocoder) in rounds.items():
            score(name, vocoder(frames.analyse(src, spec)).numpy()[: len(src)], u.text)
        if voice is None:
            continue
        out = synthesize_batch(voice, u.text, list(TEMPERATURES), [args.seed] * len(TEMPERATURES), SynthesisOptions())
        for t, wav in zip(TEMPERATURES, out.waveforms):
            score(f"tts_temp voice, T={t:g}", wav, u.text)
        ratios.append(len(out.waveforms[0]) / len(src))
    ceiling_name = own if voice is not None else "source -> mel -> Griffin-Lim"
    ceiling = 100 * float(np.mean(cers[ceiling_name]))
    if voice is not None:
        print(f"voice: step {voice.meta.get('step')}, {voice.meta.get('train_seconds', 0) / 60:.0f} min of training, "
              f"features {voice.features['kind']}, vocoder {voice.vocoder['kind']}, "
              f"duration threshold {voice.duration_threshold}")
    print(f"{len(utts)} held-out Harvard sentences; ASR tiny.en T=0; Distill-MOS (distillmos); "
          f"DNSMOS P.835 (speechmos); ceiling = {ceiling_name}")
    print("| condition | CER % | minus ceiling (points) | Distill-MOS | DNSMOS OVRL | SIG | BAK | P.808 |")
    print("|---|---|---|---|---|---|---|---|")
    for name, vals in cers.items():
        c = 100 * float(np.mean(vals))
        m = mean_dnsmos(moses[name])
        d = f"{np.nanmean(distill_mos(heard[name], 16000)):.2f}" if distill_mos_available() else "-"
        print(f"| {name} | {c:.1f} | {c - ceiling:+.1f} | {d} | {m.ovrl:.2f} | {m.sig:.2f} | {m.bak:.2f} "
              f"| {m.p808:.2f} |")
    if voice is None:
        return 0
    own_ll, other = text_dependence(voice, utts, wavs)
    print(f"\nlength of T=0 speech / source: {np.mean(ratios):.2f} (mean over sentences)")
    print(f"text dependence: log-likelihood per frame, own text {own_ll:.2f}, another sentence's text {other:.2f}, "
          f"gain {own_ll - other:.2f} nats/frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
