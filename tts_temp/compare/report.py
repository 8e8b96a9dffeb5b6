"""report.html: the figures, the summary table and a player for every wav, in one static page.

Everything is referenced by a path relative to the run folder (figures, copied input clips,
synthesised wavs), and the page has no scripts or external resources, so the folder can be moved,
zipped or opened offline and still work.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from urllib.parse import quote

from tts_temp.asr.fallback import WHISPER_SCHEDULE
from tts_temp.audio import write_atomic_text
from tts_temp.compare.plots import Figure
from tts_temp.compare.results import show

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


class Html(str):
    """A cell that is already markup (an audio player, an error line): written as is, not escaped."""


def _cell(value) -> str:
    if isinstance(value, Html):
        return f"<td>{value}</td>"
    cls = ' class="num"' if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
    return f"<td{cls}>{html.escape(show(value))}</td>"


def _table(rows: list[dict], columns: list[str], headers: list[str] | None = None) -> str:
    """One HTML table: a header cell per column and exactly one cell per column in every row."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in (headers or columns))
    body = "".join("<tr>" + "".join(_cell(r.get(c)) for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _error(message: str) -> Html:
    return Html(f"<span class='error'>error: {html.escape(message)}</span>")


def _figures(figures: list[Figure]) -> str:
    return "\n".join(
        f'<figure><img src="{_src(f.file)}" alt="{html.escape(f.title, quote=True)}">'
        f"<figcaption><b>{html.escape(f.title)}.</b> {html.escape(f.caption)}</figcaption></figure>"
        for f in figures)


def _audio(path: str | None) -> str:
    if not path:
        return "–"
    return Html(f'<audio controls preload="metadata" src="{_src(path)}"></audio>')


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
ASR_ITEM_COLUMNS = ["T", "seed", "text", "wer", "cer", "avg_logprob", "compression_ratio", "settled", "decoded"]
ASR_ITEM_HEADERS = ["T", "seed", "text", "WER", "CER", "avg logprob", "compression", "segment T", "decoded"]
DECODING_LABELS = [("compute_type", "compute type"), ("device", "device"), ("beam_size", "beam size"),
                   ("best_of", "best of"), ("top_k", "top-k"), ("top_p", "top-p"), ("language", "language"),
                   ("task", "task"), ("vad_filter", "VAD filter")]


def decoded(grid: dict | None) -> str:
    """How a sweep row was computed, in words (from its record's "grid")."""
    if not grid:
        return ""
    parts = []
    if grid.get("deterministic") and grid.get("shared_with"):
        parts.append(f"deterministic: decoded once, shared with {', '.join(grid['shared_with'])}")
    elif grid.get("deterministic"):
        parts.append("deterministic")
    elif grid.get("shared_attempts"):
        parts.append(f"{grid['shared_attempts']} T=0 attempt(s) shared")
    if grid.get("batched_attempts"):
        how = "one pass per row" if grid.get("exact") else "one batched pass"
        parts.append(f"sampled with up to {grid['largest_batch']} rows ({how})")
    return "; ".join(parts)


def _decoding(cfg) -> str:
    """The decoding options of the sweep, one line (what run.json records)."""
    d = getattr(cfg, "decoding", None)
    if d is None:
        return ""
    values = d.to_dict()
    shown = ", ".join(f"{label} {html.escape(str(values[k]) if values[k] is not None else 'default')}"
                      for k, label in DECODING_LABELS)
    grid = ("one decoder pass per sampled row (each row equals the item alone)" if getattr(cfg, "exact", True)
            else "sampled rows batched in one decoder pass")
    return (f"<p>Decoding: {shown}. Each file's grid shares one encoder pass per 30 s window; "
            f"{grid}.</p>")


SAMPLE_FIRST = 5   # inputs shown with players: the first few ...
SAMPLE_WORST = 5   # ... and the worst few by their mean error rate


def sample_files(records: list[dict], group: str = "file", score: str = "wer",
                 first: int = SAMPLE_FIRST, worst: int = SAMPLE_WORST) -> list:
    """The inputs the report shows item by item: the first `first` in sweep order, then the `worst`
    with the highest mean `score` (ties: sweep order). The tables and figures cover every item; this
    only keeps a page over thousands of items small and quick to open."""
    groups: dict = {}
    for r in records:
        groups.setdefault(r[group], []).append(r.get(score))
    order = list(groups)
    means = {g: sum(v) / len(v) for g, vals in groups.items() if (v := [x for x in vals if x is not None])}
    worst_first = sorted(means, key=lambda g: -means[g])[:worst]  # stable: ties keep sweep order
    picked = order[:first]
    return picked + [g for g in worst_first if g not in picked]


def _sample_note(shown: int, total: int, what: str, score: str) -> str:
    if shown >= total:
        return ""
    return (f"<p>Showing {shown} of {total} {what}: the first {SAMPLE_FIRST} and the {SAMPLE_WORST} with the "
            f"highest mean {score}. Every item is in <code>results.jsonl</code> and every temperature in "
            "<code>summary.csv</code> and the table above.</p>")


def asr_report(out_dir: Path, cfg, summary: list[dict], summary_columns: list[str], records: list[dict],
               figures: list[Figure], explain: dict | None, shown: list[str] | None = None,
               clips: dict[str, str] | None = None) -> Path:
    """`shown`: the files listed item by item (default: all); `clips`: file -> copied clip to play."""
    temps = ", ".join(f"{t:g}" for t in cfg.temperatures)
    clips = clips or {}
    intro = (f"<p>{len(cfg.audio)} file(s) transcribed by Whisper <code>{html.escape(cfg.model)}</code> at "
             f"T = {temps}, {cfg.seeds} seed(s) each"
             + (f", plus Whisper's fallback schedule ({', '.join(f'{t:g}' for t in WHISPER_SCHEDULE)}) as one more row"
                if cfg.fallback_row else "")
             + ". WER and CER use Whisper's English text normaliser on both sides; diversity is the mean "
               "WER between the texts of different seeds.</p>" + _decoding(cfg) + _settings(out_dir))
    fired = sorted({k for r in summary for k in r if k.startswith("fired_")})
    files: dict[str, list[dict]] = {}
    for r in records:
        files.setdefault(r["file"], []).append(r)
    shown = list(files) if shown is None else shown
    blocks = [_sample_note(len(shown), len(files), "files", "WER")]
    for recs in (files[f] for f in shown if f in files):
        first = recs[0]
        ref = first.get("reference")
        playable = any(not r.get("error") for r in recs)  # no player for a file that could not be read
        rows = []
        for r in recs:
            row = {"T": "fallback" if r.get("mode") == "fallback" else f"{r['temperature']:g}", "seed": r["seed"]}
            if r.get("error"):
                row["text"] = _error(r["error"])
            else:
                row.update(text=r["text"], wer=r.get("wer"), cer=r.get("cer"), avg_logprob=r.get("avg_logprob"),
                           compression_ratio=r.get("compression_ratio"),
                           settled=", ".join(f"{t:g}" for t in r.get("segment_temperatures", [])),
                           decoded=decoded(r.get("grid")))
            rows.append(row)
        blocks.append(
            f"<h3>{html.escape(first['name'])}</h3><p>{_audio(clips.get(first['file']) if playable else None)}</p>"
            + (f"<p>Reference: {html.escape(ref)}</p>" if ref else "<p>No reference text.</p>")
            + _table(rows, ASR_ITEM_COLUMNS, ASR_ITEM_HEADERS))
    sections = [("Figures", _figures([f for f in figures if f.file in ("wer_vs_temperature.png",
                                                                       "diversity_vs_temperature.png")])),
                ("Summary per temperature", _table(summary, summary_columns + fired)
                 + "<p><code>fired_*</code>: how many attempts each fallback criterion rejected; "
                   "<code>settled_temperature_mean</code>: the mean temperature segments were kept at.</p>")]
    explaining = [f for f in figures if f.file in ("next_token_distribution.png", "entropy_vs_temperature.png")]
    if explaining:
        sections.append(("What temperature does to Whisper's next token", _figures(explaining)))
    sections.append(("Transcripts", "\n".join(blocks)))
    page = _page("Transcripts across temperatures", intro, sections)
    return write_atomic_text(out_dir / "report.html", page)


# --------------------------------------------------------------------------- TTS
TTS_ITEM_COLUMNS = ["T", "seed", "audio", "duration", "f0", "transcript", "cer"]
TTS_ITEM_HEADERS = ["T", "seed", "audio", "seconds", "F0 Hz (mean ± std)", "heard by Whisper", "CER"]


def tts_report(out_dir: Path, cfg, summary: list[dict], summary_columns: list[str], records: list[dict],
               spreads: list[dict], figures: list[Figure]) -> Path:
    temps = ", ".join(f"{t:g}" for t in cfg.temperatures)
    n_sent = len({r["sentence"] for r in records})
    intro = (f"<p>{n_sent} sentence(s) synthesised at T = {temps}, {cfg.seeds} seed(s) each. "
             "Duration and F0 (pYIN, voiced frames) per wav; CER from Whisper transcribing the wav back at "
             "T = 0; seed distance is the DTW-aligned mean log-mel difference (dB) between two seeds at the "
             "same temperature. Naturalness is predicted by two non-intrusive proxies on a 1-5 scale, "
             "DNSMOS P.835 (OVRL) and Distill-MOS, which also hears vocoder artefacts; neither is a "
             "listening test.</p>" + _settings(out_dir))
    dist: dict[int, list[dict]] = {}
    for r in spreads:
        dist.setdefault(r["sentence"], []).append(r)
    sentences: dict[int, list[dict]] = {}
    for r in records:
        sentences.setdefault(r["sentence"], []).append(r)
    shown = sample_files(records, "sentence", "cer")
    blocks = [_sample_note(len(shown), len(sentences), "sentences", "CER")]
    for i in shown:
        recs = sentences[i]
        rows = []
        for r in recs:
            row = {"T": f"{r['temperature']:g}", "seed": r["seed"]}
            if r.get("error"):
                row["audio"] = _error(r["error"])
            else:
                row.update(audio=_audio(r["wav"]), duration=r["duration"],
                           f0=f"{show(r.get('f0_mean'))} ± {show(r.get('f0_std'))}",
                           transcript=r["transcript"], cer=r["cer"])
            rows.append(row)
        spread = "; ".join(f"T={d['temperature']:g}: {show(sum(p[2] for p in d['pairs']) / len(d['pairs']))} dB"
                           for d in dist.get(i, []) if d["pairs"])
        blocks.append(f"<h3>{i + 1}. {html.escape(recs[0]['text'])}</h3>"
                      + (f"<p>Seed distance: {spread}</p>" if spread else "")
                      + _table(rows, TTS_ITEM_COLUMNS, TTS_ITEM_HEADERS))
    sections = [("Figures", _figures(figures)),
                ("Summary per temperature", _table(summary, summary_columns)),
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
