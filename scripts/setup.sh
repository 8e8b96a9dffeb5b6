#!/usr/bin/env bash
# One-step set-up on a fresh Debian machine: system packages, a virtualenv in .venv, the project.
# Safe to run again: every step skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: espeak-ng (phonemes, needed to speak), festival + the slt HTS voice and
# bible-kjv-text (to build the training corpus), ffmpeg (non-wav audio input), chromium (the
# report test). Installed only when missing and only when we may (root).
need=()
for pkg in espeak-ng festival festvox-us-slt-hts bible-kjv-text ffmpeg chromium chromium-driver; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "setup: please install these Debian packages: ${need[*]}" >&2
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch first and pinned: this version is a CPU build available locally; an unpinned torch
# would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
# Distill-MOS, the second naturalness proxy: its wheel (weights included) declares torchaudio, which
# it needs only for its own command line and which has no build for this torch, so it and the model
# code it builds on are installed without dependencies (tts_temp.naturalness imports it with an empty
# stand-in torchaudio). A pyproject dependency would pull torchaudio.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps distillmos==0.9.1 xls-r-sqa==0.1.0
