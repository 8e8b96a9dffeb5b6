"""Sweeps at corpus scale: manifests, bad rows, workers on Ray, faults, and a report over 10,000 items."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from browser import AVAILABLE, SKIP_REASON, check_report
from tts_temp.cli import main
from tts_temp.compare.engine import EngineOptions, run_tasks
from tts_temp.compare.manifest import read_manifest
from tts_temp.errors import UserError

DATA = Path(__file__).parent / "data"
CLIPS = ["librivox_sense_0880", "librivox_sense_0930"]
ray = pytest.importorskip("ray", reason="Ray (the tts_temp[ray] extra) is not installed")


def _rows(folder: Path) -> list[dict]:
    return [json.loads(l) for l in (folder / "results.jsonl").read_text(encoding="utf-8").splitlines() if l]


# --------------------------------------------------------------------------- manifests
def test_manifest_formats_resolve_paths_against_their_folder(tmp_path):
    (tmp_path / "a.wav").write_bytes((DATA / "jfk.wav").read_bytes())
    (tmp_path / "m.tsv").write_text("audio\treference\na.wav\tHello there.\n\nmissing.wav\tx\n", encoding="utf-8")
    (tmp_path / "m.csv").write_text('reference,audio\n"Hi, you.",a.wav\n,\n', encoding="utf-8")
    (tmp_path / "m.jsonl").write_text(f'{{"audio": "{tmp_path / "a.wav"}"}}\nnot json\n{{"reference": "x"}}\n',
                                      encoding="utf-8")
    tsv = read_manifest(tmp_path / "m.tsv")
    assert [(e.audio, e.reference, e.error) for e in tsv][0] == (tmp_path / "a.wav", "Hello there.", None)
    assert "no such file" in tsv[1].error and tsv[1].source == "m.tsv:4"
    csv_ = read_manifest(tmp_path / "m.csv")
    assert len(csv_) == 1 and csv_[0].reference == "Hi, you." and csv_[0].error is None
    jsonl = read_manifest(tmp_path / "m.jsonl")
    assert jsonl[0].error is None and jsonl[0].reference is None
    assert "not a JSON object" in jsonl[1].error and "no audio path" in jsonl[2].error


def test_librispeech_folder(tmp_path):
    chapter = tmp_path / "corpus" / "19" / "198"
    chapter.mkdir(parents=True)
    (chapter / "19-198-0000.flac").write_bytes(b"x")
    (chapter / "19-198.trans.txt").write_text("19-198-0000 NORTHANGER ABBEY\n19-198-0001 GONE\n", encoding="utf-8")
    entries = read_manifest(tmp_path / "corpus")
    assert [(e.audio.name, e.reference, e.error is None) for e in entries] == \
        [("19-198-0000.flac", "NORTHANGER ABBEY", True), ("19-198-0001.flac", "GONE", False)]


@pytest.mark.parametrize("text, message", [("", "empty"), ("file\tref\nx.wav\ty\n", "'audio' column")])
def test_unusable_manifest_is_a_user_error(tmp_path, text, message):
    (tmp_path / "m.tsv").write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        read_manifest(tmp_path / "m.tsv")


def test_bad_manifest_rows_are_failed_items_and_the_rest_go_on(tmp_path, capsys):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join([json.dumps({"audio": str(DATA / "librivox_sense_0880.wav"),
                                               "reference": (DATA / "librivox_sense_0880.txt").read_text()}),
                                   json.dumps({"audio": "missing.wav"}), json.dumps({"audio": "broken.wav"}),
                                   "{not json"]) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    code = main(["compare-asr", "--manifest", str(manifest), "--temperatures", "0", "--seeds", "1",
                 "--no-fallback-row", "--out", str(out)])
    assert code == 1
    rows = _rows(out)
    assert len(rows) == 4 and sum(1 for r in rows if r.get("error")) == 3
    good = next(r for r in rows if not r.get("error"))
    assert good["wer"] is not None and good["text"]
    err = capsys.readouterr().err
    assert "missing.wav: no such file" in err and "not a JSON object" in err


# --------------------------------------------------------------------------- engine
class Square:
    """A picklable worker recipe for the engine tests (no model to load)."""

    def __call__(self):
        return lambda x: x * x


def test_engine_serial_and_ray_give_the_same_results():
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import a test module
    tasks = list(range(20))
    serial = {i: r for i, r, _ in run_tasks(Square(), tasks, EngineOptions())}
    on_ray = {i: r for i, r, _ in run_tasks(Square(), tasks, EngineOptions(workers=2))}
    assert serial == on_ray == {i: i * i for i in tasks}
    assert not ray.is_initialized()  # a Ray the engine started is shut down again


class Broken:
    def __call__(self):
        raise RuntimeError("the model file is corrupt")


def test_a_worker_that_cannot_start_fails_every_item_once():
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    out = list(run_tasks(Broken(), list(range(5)), EngineOptions(workers=2)))
    assert sorted(i for i, _, _ in out) == list(range(5))
    assert all(r is None and "the model file is corrupt" in e for _, r, e in out)


def _asr_args(out: Path, *extra: str) -> list[str]:
    return ["compare-asr", *[str(DATA / f"{c}.wav") for c in CLIPS], "--temperatures", "0", "1", "--seeds", "2",
            "--no-fallback-row", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def serial_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "run"
    assert main(_asr_args(out)) == 0
    return {r["key"]: r for r in _rows(out)}


def test_two_local_workers_give_the_same_rows_as_one(serial_run, tmp_path):
    assert main(_asr_args(tmp_path / "run", "--workers", "2")) == 0
    rows = _rows(tmp_path / "run")
    assert len(rows) == len(serial_run) == len(CLIPS) * 2 * 2
    assert {r["key"]: r for r in rows} == serial_run


def test_a_sweep_through_a_two_node_cluster(serial_run, tmp_path):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    try:
        cluster.wait_for_nodes()
        assert main(_asr_args(tmp_path / "run", "--workers", "2", "--ray-address", cluster.address)) == 0
    finally:
        cluster.shutdown()
    assert {r["key"]: r for r in _rows(tmp_path / "run")} == serial_run


def _start(out: Path, *extra: str) -> subprocess.Popen:
    # Started as a shell starts a background job (SIGINT ignored), whatever started pytest: the CLI
    # takes SIGINT back, so Ctrl-C works there too.
    return subprocess.Popen([sys.executable, "-m", "tts_temp.cli", *_asr_args(out, *extra)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))


def _wait_for_rows(out: Path, proc: subprocess.Popen, n: int, limit: float = 300) -> None:
    deadline = time.time() + limit
    while time.time() < deadline and proc.poll() is None:
        path = out / "results.jsonl"
        if path.exists() and path.read_text(encoding="utf-8").count("\n") >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"the sweep did not reach {n} rows: {proc.poll()} {proc.stderr.read() if proc.poll() else ''}")


def test_a_killed_worker_loses_and_duplicates_nothing(serial_run, tmp_path):
    out = tmp_path / "run"
    proc = _start(out, "--workers", "2")
    try:
        _wait_for_rows(out, proc, 2)
        pids = [int(p) for p in subprocess.run(["pgrep", "-f", "ray::_Host"], capture_output=True,
                                               text=True).stdout.split()]
        assert pids, "no Ray worker process found"
        os.kill(pids[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-2000:]
    rows = _rows(out)
    assert len(rows) == len({r["key"] for r in rows}) == len(serial_run)  # none lost, none twice
    assert {r["key"]: r for r in rows} == serial_run


def test_a_killed_driver_resumes_without_repeating(serial_run, tmp_path):
    out = tmp_path / "run"
    proc = _start(out)
    try:
        _wait_for_rows(out, proc, 3)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    before = len(_rows(out))
    assert 3 <= before < len(serial_run)
    assert main(_asr_args(out, "--workers", "2")) == 0
    rows = _rows(out)
    assert len(rows) == len({r["key"] for r in rows}) == len(serial_run)
    assert {r["key"]: r for r in rows} == serial_run


def test_ctrl_c_on_the_driver_leaves_a_run_that_resumes(serial_run, tmp_path):
    out = tmp_path / "run"
    proc = _start(out, "--workers", "2")
    try:
        _wait_for_rows(out, proc, 2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0 and "Traceback" not in err, err[-2000:]
    assert main(_asr_args(out)) == 0
    rows = _rows(out)
    assert len(rows) == len({r["key"] for r in rows}) == len(serial_run)


# --------------------------------------------------------------------------- report at scale
@pytest.fixture(scope="module")
def big_report(tmp_path_factory):
    """A report over 10,000 made-up items (500 files x 5 T x 4 seeds), without running a model."""
    from tts_temp.compare import plots, report
    from tts_temp.compare.asr_sweep import SUMMARY_COLUMNS, AsrSweepConfig, summarise

    out = tmp_path_factory.mktemp("big")
    temps = [0.0, 0.25, 0.5, 0.75, 1.0]
    records = []
    for f in range(500):
        for t in temps:
            for s in range(4):
                wer = (f % 37) / 40 + t / 10
                records.append({"key": f"{f}|{t}|{s}", "file": f"/corpus/{f:05d}.flac", "name": f"{f:05d}.flac",
                                "reference": "a reference sentence of a few words", "mode": "fixed",
                                "temperature": t, "seed": s, "text": f"hypothesis {f} {s}", "wer": wer, "cer": wer / 2,
                                "avg_logprob": -0.3, "compression_ratio": 1.2, "segment_temperatures": [t],
                                "fired": {}})
    summary = summarise(records, temps, False)
    figures = plots.asr_figures(out, summary)
    cfg = AsrSweepConfig(audio=[], out_dir=out, temperatures=temps, seeds=4, fallback_row=False)
    shown = report.sample_files(records)
    page = report.asr_report(out, cfg, summary, SUMMARY_COLUMNS, records, figures, None, shown, {})
    return out, page, records, shown


def test_big_report_is_small_and_shows_a_sample(big_report):
    out, page, records, shown = big_report
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    assert size < 5_000_000, size
    html = page.read_text(encoding="utf-8")
    assert "Showing 10 of 500 files" in html
    worst = sorted(sorted({r["file"] for r in records}), key=lambda f: -((int(f[8:13]) % 37)))[:5]
    assert shown[:5] == [f"/corpus/{i:05d}.flac" for i in range(5)] and set(worst) <= set(shown)


@pytest.mark.skipif(not AVAILABLE, reason=SKIP_REASON)
def test_big_report_opens_in_chromium(big_report):
    _, page, _, _ = big_report
    seen = check_report(page)
    assert len(seen["images"]) == 2 and all(i["ok"] for i in seen["images"]), seen["images"]
