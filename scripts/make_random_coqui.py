#!/usr/bin/env python3
"""Write a Coqui-format OverFlow folder and HiFi-GAN v2 folder with random weights, at the sizes of
Coqui's default OverflowConfig and its LJSpeech hifigan_v2, for timing tts_temp without a download.

    python scripts/make_random_coqui.py OUT        # -> OUT/overflow, OUT/hifigan

The weights are random (emissions perturbed from Coqui's flat start so states last a few frames),
so the speech is noise: use it for speed only. Needs no coqui-tts.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from tts_temp.tts.coqui.hifigan import GeneratorSettings, HifiganGenerator  # noqa: E402
from tts_temp.tts.coqui.model import CoquiOverflow, OverflowSettings  # noqa: E402
from tts_temp.tts.coqui.text import CoquiTokenizer  # noqa: E402

AUDIO = {"sample_rate": 22050, "fft_size": 1024, "win_length": 1024, "hop_length": 256, "num_mels": 80,
         "mel_fmin": 0.0, "mel_fmax": 8000.0, "log_func": "np.log", "spec_gain": 1.0, "signal_norm": False}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    torch.manual_seed(0)
    cfg = {"model": "Overflow", "text_cleaner": "english_cleaners", "characters": None, "audio": AUDIO,
           **{k: v for k, v in asdict(OverflowSettings()).items() if k != "flow"}}
    n_symbols = len(CoquiTokenizer.from_config(cfg).vocab.symbols)
    model = CoquiOverflow(OverflowSettings.from_config(cfg), n_symbols)
    with torch.no_grad():
        last = model.neural_hmm.output_net.parametermodel.last_layer
        last.weight.normal_(0, 0.01)
        last.bias.zero_()
        last.bias[-1] = math.log(0.14 / 0.86)  # Coqui's flat-start transition probability
        for f in model.decoder.glow_decoder.flows:
            if hasattr(f, "end"):
                f.end.weight.normal_(0, 0.01)
    model.mean.fill_(-5.0)
    model.std.fill_(2.0)
    _write(args.out / "overflow", cfg, model.state_dict())
    gen = GeneratorSettings(in_channels=80, upsample_factors=[8, 8, 2, 2], upsample_kernel_sizes=[16, 16, 4, 4],
                            upsample_initial_channel=128, resblock_kernel_sizes=[3, 7, 11],
                            resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5], [1, 3, 5]], resblock_type="1")
    vcfg = {"model": "hifigan", "generator_model": "hifigan_generator", "audio": AUDIO,
            "generator_model_params": {k: v for k, v in asdict(gen).items() if k != "in_channels"}}
    _write(args.out / "hifigan", vcfg, {f"model_g.{k}": v for k, v in HifiganGenerator(gen).state_dict().items()})
    print(f"wrote {args.out / 'overflow'} and {args.out / 'hifigan'}")
    return 0


def _write(folder: Path, cfg: dict, state: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    torch.save({"config": cfg, "model": state, "step": 0, "epoch": 0}, folder / "model_file.pth")


if __name__ == "__main__":
    sys.exit(main())
