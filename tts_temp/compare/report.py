"""report.html: the figures, the summary table and a player for every wav, in one static page.

Everything is referenced by a path relative to the run folder (figures, copied input clips,
synthesised wavs), and the page has no scripts or external resources, so the folder can be moved,
zipped or opened offline and still work.
"""
from __future__ import annotations

import html
import json
import math
from pathlib import Path
from urllib.parse import quote

from tts_temp.audio import write_atomic_text
from tts_temp.compare.plots import Figure

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-table; width: 1px; margin: 0.5em 1em 1em 0; vertical-align: top; }
figure img { border: 1px solid #eee; }
figcaption { display: table-caption; caption-side: bottom; font-size: 0.85em; color: #555; }
.error { color: #a00; } audio { height: 28px; width: 220px; } code { font-size: 0.9em; }
"""


def _src(path: str) -> str:
    return html.escape(quote(path), quote=True)


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}"
    return html.escape(str(v))


def _table(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            cls = ' class="num"' if isinstance(v, (int, float)) else ""
            cells.append(f"<td{cls}>{_fmt(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figures(figures: list[Figure]) -> str:
    return "\n".join(
        f'<figure><img src="{_src(f.file)}" alt="{html.escape(f.title, quote=True)}">'
        f"<figcaption><b>{html.escape(f.title)}.</b> {html.escape(f.caption)}</figcaption></figure>"
        for f in figures)


def _audio(path: str | None) -> str:
    if not path:
        return "–"
    return f'<audio controls preload="metadata" src="{_src(path)}"></audio>'


def _page(title: str, intro: str, sections: list[tuple[str, str]]) -> str:
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{intro}"]
    parts += [f"<h2>{html.escape(h)}</h2>\n{body}" for h, body in sections]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _settings(out_dir: Path) -> str:
    try:
        run = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    shown = {k: (str(v)[:12] + "…" if k.endswith("sha256") and v else v) for k, v in sorted(run.items())}
    return "<p>Settings: " + ", ".join(f"<code>{html.escape(k)}={html.escape(str(v))}</code>"
                                        for k, v in shown.items()) + "</p>"


# --------------------------------------------------------------------------- ASR
def asr_report(out_dir: Path, cfg, summary: list[dict], records: list[dict], figures: list[Figure],
               explain: dict | None) -> Path:
    from tts_temp.compare.asr import SUMMARY_COLUMNS

    temps = ", ".join(f"{t:g}" for t in cfg.temperatures)
    intro = (f"<p>{len(cfg.audio)} file(s) transcribed by Whisper <code>{html.escape(cfg.model)}</code> at "
             f"T = {temps}, {cfg.seeds} seed(s) each"
             + (", plus Whisper's fallback schedule (0, 0.2, …, 1.0) as one more row" if cfg.fallback_row else "")
             + ". WER and CER use Whisper's English text normaliser on both sides; diversity is the mean "
               "WER between the texts of different seeds.</p>" + _settings(out_dir))
    fired = sorted({k for r in summary for k in r if k.startswith("fired_")})
    files: dict[str, list[dict]] = {}
    for r in records:
        files.setdefault(r["file"], []).append(r)
    blocks = []
    for recs in files.values():
        first = recs[0]
        ref = first.get("reference")
        playable = any(not r.get("error") for r in recs)  # no player for a file that could not be read
        rows = []
        for r in recs:
            label = "fallback" if r.get("mode") == "fallback" else f"{r['temperature']:g}"
            if r.get("error"):
                rows.append(f"<tr><td>{label}</td><td>{r['seed']}</td>"
                            f"<td class='error' colspan='6'>error: {html.escape(r['error'])}</td></tr>")
                continue
            settled = ", ".join(f"{t:g}" for t in r.get("segment_temperatures", []))
            rows.append(f"<tr><td>{label}</td><td>{r['seed']}</td><td>{html.escape(r['text'])}</td>"
                        f"<td class='num'>{_fmt(r.get('wer'))}</td><td class='num'>{_fmt(r.get('cer'))}</td>"
                        f"<td class='num'>{_fmt(r.get('avg_logprob'))}</td>"
                        f"<td class='num'>{_fmt(r.get('compression_ratio'))}</td><td>{settled}</td></tr>")
        blocks.append(
            f"<h3>{html.escape(first['name'])}</h3><p>{_audio(first.get('clip') if playable else None)}</p>"
            + (f"<p>Reference: {html.escape(ref)}</p>" if ref else "<p>No reference text.</p>")
            + "<table><thead><tr><th>T</th><th>seed</th><th>text</th><th>WER</th><th>CER</th>"
              "<th>avg logprob</th><th>compression</th><th>segment T</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")
    sections = [("Figures", _figures([f for f in figures if f.file in ("wer_vs_temperature.png",
                                                                       "diversity_vs_temperature.png")])),
                ("Summary per temperature", _table(summary, SUMMARY_COLUMNS + fired)
                 + "<p><code>fired_*</code>: how many attempts each fallback criterion rejected; "
                   "<code>settled_temperature_mean</code>: the mean temperature segments were kept at.</p>")]
    explaining = [f for f in figures if f.file in ("next_token_distribution.png", "entropy_vs_temperature.png")]
    if explaining:
        sections.append(("What temperature does to Whisper's next token", _figures(explaining)))
    sections.append(("Transcripts", "\n".join(blocks)))
    page = _page("Transcripts across temperatures", intro, sections)
    return write_atomic_text(out_dir / "report.html", page)


# --------------------------------------------------------------------------- TTS
def tts_report(out_dir: Path, cfg, summary: list[dict], records: list[dict], spreads: list[dict],
               figures: list[Figure]) -> Path:
    from tts_temp.compare.tts import SUMMARY_COLUMNS

    temps = ", ".join(f"{t:g}" for t in cfg.temperatures)
    n_sent = len({r["sentence"] for r in records})
    intro = (f"<p>{n_sent} sentence(s) synthesised at T = {temps}, {cfg.seeds} seed(s) each. "
             "Duration and F0 (pYIN, voiced frames) per wav; CER from Whisper transcribing the wav back at "
             "T = 0; seed distance is the DTW-aligned mean log-mel difference (dB) between two seeds at the "
             "same temperature.</p>" + _settings(out_dir))
    dist = {(r["sentence"], r["temperature"]): r for r in spreads}
    sentences: dict[int, list[dict]] = {}
    for r in records:
        sentences.setdefault(r["sentence"], []).append(r)
    blocks = []
    for i, recs in sentences.items():
        rows = []
        for r in recs:
            if r.get("error"):
                rows.append(f"<tr><td>{r['temperature']:g}</td><td>{r['seed']}</td>"
                            f"<td class='error' colspan='6'>error: {html.escape(r['error'])}</td></tr>")
                continue
            rows.append(f"<tr><td>{r['temperature']:g}</td><td>{r['seed']}</td><td>{_audio(r['wav'])}</td>"
                        f"<td class='num'>{_fmt(r['duration'])}</td><td class='num'>{_fmt(r.get('f0_mean'))}"
                        f" ± {_fmt(r.get('f0_std'))}</td><td>{html.escape(r['transcript'])}</td>"
                        f"<td class='num'>{_fmt(r['cer'])}</td></tr>")
        spread = "; ".join(f"T={t:g}: {_fmt(sum(p[2] for p in d['pairs']) / len(d['pairs']))} dB"
                           for (s, t), d in dist.items() if s == i and d["pairs"])
        blocks.append(f"<h3>{i + 1}. {html.escape(recs[0]['text'])}</h3>"
                      + (f"<p>Seed distance: {spread}</p>" if spread else "")
                      + "<table><thead><tr><th>T</th><th>seed</th><th>audio</th><th>seconds</th>"
                        "<th>F0 Hz (mean ± std)</th><th>heard by Whisper</th><th>CER</th></tr></thead><tbody>"
                      + "".join(rows) + "</tbody></table>")
    sections = [("Figures", _figures(figures)),
                ("Summary per temperature", _table(summary, SUMMARY_COLUMNS)),
                ("Every output", "\n".join(blocks))]
    page = _page("Synthesis across temperatures", intro, sections)
    return write_atomic_text(out_dir / "report.html", page)


# --------------------------------------------------------------------------- both sweeps
def index_report(out_dir: Path, title: str, intro: str, parts: list[tuple[str, str, list[Figure]]]) -> Path:
    """One page over several run folders: (heading, sub-folder, figures) -> links and figures."""
    sections = []
    for heading, sub, figures in parts:
        moved = [Figure(f"{sub}/{f.file}", f.title, f.caption) for f in figures]
        link = f'<p><a href="{_src(sub + "/report.html")}">The full report, with every transcript and player</a></p>'
        sections.append((heading, link + _figures(moved)))
    return write_atomic_text(out_dir / "report.html", _page(title, f"<p>{html.escape(intro)}</p>", sections))
