"""`compare-tts --verify`: how often verified synthesis draws again at each temperature, and what it buys.

Self-contained on purpose (one module, one call after the sweep): every (sentence, temperature,
seed) of the sweep is synthesised again through `tts_temp.verify` with the default policy, all
seeds of a sentence and temperature as one call (its steps batch together). Records go to
verify.jsonl (resumable, like results.jsonl), one row per temperature to verify.csv, and the same
table into report.html. "CER before" is the first attempt (the plain draw at that T and seed),
"after" the kept one, both scored against the written sentence like the sweep's CER.
"""
from __future__ import annotations

import html
from pathlib import Path

from tts_temp import score
from tts_temp.compare.metrics import mean_std
from tts_temp.compare.results import ResultsFile, write_csv

COLUMNS = ["temperature", "items", "fired", "fired_rate", "passed", "attempts_mean", "cer_before", "cer_after"]


def run_verify(out: Path, sentences: list[str], temperatures: list[float], seeds: int, voice, asr_model,
               options, log=print) -> list[dict]:
    """Verify every item of the sweep, then summarise per temperature (verify.csv, report.html)."""
    from tts_temp.verify import WhisperRecogniser, synthesize_batch

    results = ResultsFile(Path(out) / "verify.jsonl")
    recogniser = WhisperRecogniser(asr_model)
    for i, text in enumerate(sentences):
        for t in temperatures:
            keys = [f"verify|{i}|{text}|T={t:g}|seed={s}" for s in range(seeds)]
            todo = [s for s, k in zip(range(seeds), keys) if not results.done(k)]
            if not todo:
                continue
            try:
                out_ = synthesize_batch(voice, text, [t] * len(todo), todo, options, verify=True,
                                        recogniser=recogniser)
            except Exception as exc:  # one bad sentence must not stop the sweep
                log(f"compare-tts --verify: sentence {i + 1} T={t:g}: {type(exc).__name__}: {exc}")
                continue
            for s, record in zip(todo, out_.records):
                results.append({"key": keys[s], "sentence": i, "temperature": t, "seed": s, **record.to_dict()})
    rows = summarise([r for r in results.records.values() if "attempts" in r], temperatures)
    write_csv(Path(out) / "verify.csv", rows, COLUMNS)
    add_to_report(Path(out) / "report.html", rows)
    return rows


def summarise(records: list[dict], temperatures: list[float]) -> list[dict]:
    rows = []
    for t in temperatures:
        group = [r for r in records if r["temperature"] == t]
        before = [score.cer(r["text"], r["attempts"][0]["transcript"]) for r in group]
        after = [score.cer(r["text"], r["attempts"][r["kept"]]["transcript"]) for r in group]
        fired = sum(len(r["attempts"]) > 1 for r in group)
        rows.append({"temperature": f"{t:g}", "items": len(group), "fired": fired,
                     "fired_rate": fired / len(group) if group else float("nan"),
                     "passed": sum(r["attempts"][r["kept"]]["accepted"] for r in group),
                     "attempts_mean": mean_std([len(r["attempts"]) for r in group])[0],
                     "cer_before": mean_std(before)[0], "cer_after": mean_std(after)[0]})
    return rows


def add_to_report(page: Path, rows: list[dict]) -> None:
    """Insert the verification table into an existing report.html, before </body>."""
    from tts_temp.audio import write_atomic_text

    if not page.is_file():
        return
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r[c]))}</td>" for c in COLUMNS) + "</tr>" for r in rows)
    section = ("<h2>Verified synthesis</h2><p>Each output transcribed back (tiny.en, T=0) and drawn again along "
               "the default schedule when its CER is above 0.1 or its length implausible: how often that fired "
               "per temperature, and the CER of the first draw and of the kept one (verify.jsonl holds every "
               "attempt).</p><table><thead><tr>" + "".join(f"<th>{c}</th>" for c in COLUMNS) +
               f"</tr></thead><tbody>{cells}</tbody></table>")
    text = page.read_text(encoding="utf-8")
    marker = '<h2>Verified synthesis</h2>'
    if marker in text:  # a resumed run replaces its old section
        text = text[: text.index(marker)] + "</body></html>\n"
    write_atomic_text(page, text.replace("</body></html>", section + "</body></html>", 1))


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)
