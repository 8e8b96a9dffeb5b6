"""The sweeps' figures (matplotlib, Agg: no display needed). Each function takes plain data,
writes one PNG atomically and returns a `Figure` (file name relative to the run folder + caption),
so the report can embed it with a relative path."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tts_temp.audio import atomic_write  # noqa: E402

DPI = 100


@dataclass
class Figure:
    file: str       # relative to the run folder
    title: str
    caption: str


def _save(fig, out_dir: Path, name: str) -> str:
    try:
        with atomic_write(out_dir / name, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=DPI, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return name


def _numeric(rows: list[dict], key: str) -> tuple[list[float], list[float], list[float]]:
    """(T, mean, std) for the rows whose temperature is a number and whose value is finite."""
    xs, ys, es = [], [], []
    for r in rows:
        try:
            t = float(r["temperature"])
        except ValueError:
            continue
        y = r.get(f"{key}_mean", r.get(key))
        if y is None or not math.isfinite(y):
            continue
        xs.append(t)
        ys.append(y)
        e = r.get(f"{key}_std")
        es.append(e if e is not None and math.isfinite(e) else 0.0)
    return xs, ys, es


def _fallback_line(ax, rows: list[dict], key: str, label: str = "fallback schedule") -> None:
    for r in rows:
        if r["temperature"] == "fallback":
            y = r.get(f"{key}_mean", r.get(key))
            if y is not None and math.isfinite(y):
                ax.axhline(y, color="0.4", ls="--", lw=1, label=f"{label} ({y:.3f})")
                ax.legend(loc="best", fontsize=8)


def _versus_t(fig, ax, summary: list[dict], key: str, ylabel: str, title: str, path: Path, name: str,
              caption: str) -> Figure:
    """Finish a 'measure vs temperature' plot (fallback line, axes, grid) and save it."""
    _fallback_line(ax, summary, key)
    ax.set(xlabel="temperature T", ylabel=ylabel, title=title)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    return Figure(_save(fig, path.parent, path.name), name, caption)


# --------------------------------------------------------------------------- ASR
def asr_figures(out_dir: Path, summary: list[dict]) -> list[Figure]:
    figs = []
    xs, ys, es = _numeric(summary, "wer")
    fig, ax = plt.subplots(figsize=(5, 3.2))
    if xs:
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3)
    else:
        ax.text(0.5, 0.5, "no reference texts: WER not measured", ha="center", va="center",
                transform=ax.transAxes)
    figs.append(_versus_t(fig, ax, summary, "wer", "WER (mean ± std over files × seeds)", "Word error rate vs T",
                          out_dir / "wer_vs_temperature.png", "WER vs temperature",
                          "Word error rate against the reference (Whisper's English normaliser on both sides), "
                          "mean and spread over files and seeds; the dashed line is Whisper's fallback schedule."))

    xs, ys, _ = _numeric(summary, "diversity")
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(xs, ys, marker="o", color="tab:orange")
    figs.append(_versus_t(fig, ax, summary, "diversity", "mean pairwise WER between seeds",
                          "Diversity between seeds vs T", out_dir / "diversity_vs_temperature.png",
                          "Diversity vs temperature",
                          "How different the transcripts of the same file are across seeds: the mean WER over all "
                          "ordered pairs of seed texts. 0 at T=0, where decoding is deterministic."))
    return figs


def token_figures(out_dir: Path, explain: dict) -> list[Figure]:
    """Next-token probabilities at several T (grouped bars) and entropy as a curve over T."""
    temps = list(explain["probs"])
    labels = [t.replace(" ", "\u2423") for t in explain["tokens"]]  # show leading spaces as ␣
    x = np.arange(len(labels))
    width = 0.8 / len(temps)
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for j, t in enumerate(temps):
        ax.bar(x + (j - (len(temps) - 1) / 2) * width, explain["probs"][t], width, label=f"T = {t}")
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=9)
    ax.set(ylabel="probability", ylim=(0, 1),
           title=f"Whisper's next token after “{explain['prefix'].strip()[-40:]}…”")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    figs = [Figure(_save(fig, out_dir, "next_token_distribution.png"), "Next-token distribution at several T",
                   f"Decoding step {explain['step']} of {explain.get('file', 'the first clip')} (the greedy step where the model is least "
                   "sure): the eight most likely tokens' probabilities under softmax(logits / T). Low T piles the "
                   "mass on the top token; high T spreads it over the alternatives.")]

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for curve in explain.get("entropy_all_steps", []):
        ax.plot(explain["entropy_T"], curve, color="0.8", lw=0.8)
    ax.plot(explain["entropy_T"], explain["entropy"], color="tab:red", lw=2, label=f"step {explain['step']}")
    ax.axvline(1.0, color="0.4", ls=":", lw=1)
    ax.set(xlabel="temperature T", ylabel="entropy (nats)", title="Entropy of the next-token distribution vs T")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    figs.append(Figure(_save(fig, out_dir, "entropy_vs_temperature.png"), "Entropy vs temperature",
                       "Entropy of softmax(logits / T) at the step above (red) and at every other greedy step of "
                       "the clip (grey). T = 0 is the argmax (entropy 0), T = 1 the model's own distribution."))
    return figs


# --------------------------------------------------------------------------- TTS
def tts_figures(out_dir: Path, records: list[dict], spreads: list[dict], summary: list[dict],
                emission: dict | None, temperatures: list[float], seeds: int) -> list[Figure]:
    figs = []
    ok = [r for r in records if not r.get("error")]
    if ok:
        sentence = ok[0]["sentence"]
        chosen = {(r["temperature"], r["seed"]): r for r in ok if r["sentence"] == sentence}
        figs.append(mel_grid(out_dir, chosen, temperatures, seeds, ok[0]["text"]))
        figs.append(f0_contours(out_dir, chosen, temperatures, seeds, ok[0]["text"]))
    figs.append(cer_and_spread(out_dir, summary))
    figs.append(naturalness_vs_t(out_dir, summary))
    if emission is not None:
        figs.append(emission_figure(out_dir, emission))
    return figs


def mel_grid(out_dir: Path, chosen: dict, temperatures: list[float], seeds: int, text: str) -> Figure:
    import soundfile as sf

    from tts_temp.compare.metrics import log_mel_db

    fig, axes = plt.subplots(len(temperatures), seeds, figsize=(2.6 * seeds + 0.6, 1.6 * len(temperatures) + 0.6),
                             squeeze=False, sharex=True, sharey=True)
    for i, t in enumerate(temperatures):
        for s in range(seeds):
            ax = axes[i][s]
            rec = chosen.get((t, s))
            if rec is not None:
                wav, sr = sf.read(str(out_dir / rec["wav"]), dtype="float32")
                mel = log_mel_db(wav, sr)
                ax.imshow(mel, origin="lower", aspect="auto", cmap="magma",
                          vmin=mel.max() - 80, vmax=mel.max(), extent=(0, len(wav) / sr, 0, mel.shape[0]))
            if s == 0:
                ax.set_ylabel(f"T = {t:g}\nmel band")
            if i == 0:
                ax.set_title(f"seed {s}", fontsize=9)
            if i == len(temperatures) - 1:
                ax.set_xlabel("seconds")
    fig.suptitle(f"“{text[:60]}”", fontsize=10, y=1.0)
    return Figure(_save(fig, out_dir, "mel_grid.png"), "Mel spectrograms: rows = temperature, columns = seeds",
                  "Log-mel spectrograms (dB) of the written wavs for the first sentence. At T = 0 every seed gives "
                  "the same output; as T grows the seeds drift apart in timbre and detail.")


def f0_contours(out_dir: Path, chosen: dict, temperatures: list[float], seeds: int, text: str) -> Figure:
    fig, axes = plt.subplots(1, len(temperatures), figsize=(3.0 * len(temperatures), 2.8), squeeze=False,
                             sharey=True)
    own = any(rec.get("model_f0_hz") for rec in chosen.values() if rec)
    for i, t in enumerate(temperatures):
        ax = axes[0][i]
        for s in range(seeds):
            rec = chosen.get((t, s))
            if rec is None:
                continue
            colour = f"C{s % 10}"
            if rec.get("model_f0_hz"):
                ax.plot(*_contour(rec["model_f0_hz"], rec["model_f0_hop"]), lw=1.4, color=colour,
                        label=f"seed {s}")
            if rec.get("f0_hz") and own:  # the check, drawn on top so the gaps of real voicing show
                ax.plot(*_contour(rec["f0_hz"], rec["f0_hop"]), lw=0.8, color="black", ls="--", alpha=0.7,
                        zorder=3, label="pYIN" if s == 0 else None)
            elif rec.get("f0_hz"):
                ax.plot(*_contour(rec["f0_hz"], rec["f0_hop"]), lw=1.2, color=colour, label=f"seed {s}")
        ax.set_title(f"T = {t:g}", fontsize=10)
        ax.set_xlabel("seconds")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("F0 (Hz): model, pYIN dashed" if own else "F0 (Hz, pYIN)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"F0 contours of “{text[:60]}”", fontsize=10, y=1.03)
    if own:
        caption = ("The voice's own F0 stream (the log-F0 and voicing channels it hands to WORLD) for the first "
                   "sentence, one panel per temperature, seeds overlaid; black dashed: pYIN on the written waveform, "
                   "as a check (its gaps are unvoiced frames; where the model's line runs through them, the model "
                   "asked for voicing but WORLD renders those frames as noise, their aperiodicity being near 0 dB). "
                   "Higher T varies the pitch contour more between seeds.")
    else:
        caption = ("pYIN F0 of the first sentence, one panel per temperature, seeds overlaid (gaps are unvoiced "
                   "frames). Higher T varies the pitch contour more between seeds.")
    return Figure(_save(fig, out_dir, "f0_contours.png"), "F0 contours per temperature", caption)


def _contour(values: list, hop: float) -> tuple[np.ndarray, np.ndarray]:
    hz = np.array([np.nan if v is None else v for v in values], dtype=float)
    return np.arange(len(hz)) * hop, hz


def cer_and_spread(out_dir: Path, summary: list[dict]) -> Figure:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
    xs, ys, es = _numeric(summary, "cer")
    a1.errorbar(xs, ys, yerr=es, marker="o", capsize=3)
    a1.set(xlabel="temperature T", ylabel="CER (Whisper tiny.en at T=0)", title="Intelligibility vs T")
    a1.set_ylim(bottom=0)
    a1.grid(alpha=0.3)
    xs, ys, _ = _numeric(summary, "seed_distance_db")
    a2.plot(xs, ys, marker="o", color="tab:green")
    a2.set(xlabel="temperature T", ylabel="DTW mel distance between seeds (dB)", title="Spread between seeds vs T")
    a2.set_ylim(bottom=0)
    a2.grid(alpha=0.3)
    return Figure(_save(fig, out_dir, "cer_spread_vs_temperature.png"), "CER and spread vs temperature",
                  "Left: character error rate of the synthesised speech transcribed back by Whisper (T = 0), "
                  "mean ± std over sentences and seeds. Right: mean DTW-aligned log-mel distance between two "
                  "seeds at the same temperature.")


def naturalness_vs_t(out_dir: Path, summary: list[dict]) -> Figure:
    """DNSMOS OVRL and Distill-MOS per temperature on one 1-5 axis, drawn like "Intelligibility vs T"
    so the two read side by side; Distill-MOS is left out when no row has it (distillmos missing)."""
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    distill = _numeric(summary, "distill_mos")
    has_distill = bool(distill[1])   # only finite means come back: none without distillmos
    for (x, y, e), marker, color, label in [(_numeric(summary, "dnsmos_ovrl"), "o", "tab:purple", "DNSMOS OVRL"),
                                            (distill, "s", "tab:orange", "Distill-MOS")]:
        if y:   # the mean as a line of its own, then its spread
            ax.plot(x, y, marker=marker, color=color, label=label)
            ax.errorbar(x, y, yerr=e, fmt="none", capsize=3, color=color)
    if has_distill:
        ax.legend(fontsize=8)
    ax.set(xlabel="temperature T", ylabel="predicted MOS (1-5)", title="Naturalness vs T")
    ax.set_ylim(1, 5)
    ax.grid(alpha=0.3)
    caption = ("DNSMOS P.835 overall score of the synthesised speech, mean ± std over sentences and seeds. "
               "A proxy trained to rate noisy and enhanced speech, not a listening test: differences under "
               "~0.1 are noise. Natural read speech scores about 3.1, Griffin-Lim round trips about 1.6.")
    if has_distill:
        caption += (" Distill-MOS, a second proxy distilled from an XLS-R quality assessor, also hears the "
                    "vocoder artefacts that DNSMOS scores like natural speech: clean read speech scores about 4 "
                    "and above.")
    else:
        caption += " (Distill-MOS not shown: the distillmos package is not installed.)"
    return Figure(_save(fig, out_dir, "naturalness_vs_temperature.png"), "Naturalness vs temperature", caption)


def emission_figure(out_dir: Path, e: dict) -> Figure:
    mu, sd = e["mean"], e["std"]
    x = np.linspace(mu - 4 * sd, mu + 4 * sd, 400)
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    top = 0.0
    for t in e["temperatures"]:
        if t == 0:
            ax.axvline(mu, color="k", lw=1.5, label="T = 0 (the mean)")
            continue
        s = t * sd
        y = np.exp(-0.5 * ((x - mu) / s) ** 2) / (s * math.sqrt(2 * math.pi))
        top = max(top, float(y.max()))
        ax.plot(x, y, lw=1.5, label=f"T = {t:g} (std {s:.3f})")
    ax.set_ylim(0, top * 1.1 if top else 1)
    ax.set(xlabel=f"{e['space']}, channel {e['channel']}", ylabel="density",
           title=f"One emission of the voice at several T (state {e['state']} of {e['states']})")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return Figure(_save(fig, out_dir, "emission_gaussian.png"), "The continuous temperature: one emission Gaussian",
                  f"The text part of the emission of state {e['state']} of “{e['text'][:50]}”, channel "
                  f"{e['channel']}: sampling draws z = μ + T·σ·ε, so at temperature T the frame comes from "
                  "N(μ, (Tσ)²). T = 1 is the model's own spread, T = 0 collapses it to the mean.")
