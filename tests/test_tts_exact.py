"""Exact training and clean batches (issue 11): posteriors, impossible alignments, seeded prenet
dropout at synthesis, silence padding in batched synthesis."""
import math

import torch

from tts_temp.tts.hmm import NeuralHMM, SampleOptions, forward_algorithm


def _posteriors(log_emit, logits, n_frames, n_states):
    """State posteriors gamma[b, t, n] = d log p / d log_emit[b, t, n]."""
    log_emit = log_emit.clone().requires_grad_(True)
    forward_algorithm(log_emit, logits, n_frames, n_states).sum().backward()
    return log_emit.grad


def test_state_posteriors_sum_to_one_per_frame_on_long_sequences():
    # Emission log-densities of the size an 80-channel Gaussian gives (hundreds of nats per frame,
    # thousands of frames): the unscaled float32 recursion loses the posterior mass here.
    g = torch.Generator().manual_seed(0)
    B, T, N = 2, 1500, 80
    log_emit = (torch.randn(B, T, N, generator=g) * 60 + 150).float()
    logits = torch.randn(B, T, N, generator=g).float() - 2.5
    n_frames = torch.tensor([T, 1100])
    n_states = torch.tensor([N, 60])
    gamma = _posteriors(log_emit, logits, n_frames, n_states)
    assert gamma.dtype == torch.float32
    for b in range(B):
        sums = gamma[b, : int(n_frames[b])].double().sum(-1)
        assert torch.allclose(sums, torch.ones_like(sums), atol=1e-4), (b, float(sums.min()), float(sums.max()))
        assert not gamma[b, int(n_frames[b]):].any()


def test_posteriors_match_float64_reference():
    g = torch.Generator().manual_seed(1)
    log_emit = torch.randn(1, 1200, 40, generator=g) * 40 - 100
    logits = torch.randn(1, 1200, 40, generator=g) - 2.0
    n_f, n_s = torch.tensor([1200]), torch.tensor([40])
    got = _posteriors(log_emit.float(), logits.float(), n_f, n_s)
    want = _posteriors(log_emit.double(), logits.double(), n_f, n_s)
    assert torch.allclose(got.double(), want, atol=1e-5)


def _tiny_features(path, frames_per_item, phones_per_item, dim=80):
    """A features file of random frames (no corpus needed): item i has the given frames and phones."""
    from tts_temp.tts.mel import MelConfig

    g = torch.Generator().manual_seed(0)
    n = len(frames_per_item)
    torch.save({
        "names": [f"utt{i}" for i in range(n)], "texts": ["x"] * n,
        "ids": [torch.randint(1, 30, (p,), generator=g) for p in phones_per_item],
        "mels": [torch.randn(dim, f, generator=g) for f in frames_per_item],
        "mean": 0.0, "std": 1.0, "mel": MelConfig().to_dict(),
        "frontend": {"phonemes": False, "voice": "en-us"}, "corpus_sha256": "0" * 64}, path)
    return path


def test_utterance_with_fewer_frames_than_states_is_skipped_with_a_warning(tmp_path):
    from pathlib import Path

    from tts_temp.tts.train import Trainer, load_config

    root = Path(__file__).resolve().parents[1]
    model_cfg, cfg = load_config(root / "configs" / "voice-tiny.toml")
    # utt1: 10 frames for 8 phones x 2 states = 16 states: no path through the HMM.
    cfg.features = str(_tiny_features(tmp_path / "f.pt", [40, 10, 36, 44], [6, 8, 5, 7]))
    cfg.out_dir = str(tmp_path / "run")
    logged = []
    trainer = Trainer(model_cfg, cfg, log=logged.append)
    assert any("skipping 1 utterance" in m and "utt1" in m for m in logged), logged
    assert sorted(i for b in trainer.batches for i in b) == [0, 2, 3]
    trainer.run(max_steps=3)
    assert trainer.state.step == 3
    assert all(math.isfinite(h[2]) and abs(h[2]) < 1e3 for h in trainer.state.history)


def _hmm_states(n=6):
    torch.manual_seed(0)  # module init only
    hmm = NeuralHMM(state_dim=8, frame_dim=4, prenet_dim=8, lstm_dim=8).eval()
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        hmm.frame_head.weight.normal_(0, 0.3, generator=g)
    return hmm, torch.randn(1, n, 8, generator=g), torch.tensor([n])


def test_prenet_dropout_at_synthesis_draws_from_the_items_generator():
    # At T > 0 (at T = 0 dropout is never applied, so T = 0 stays the deterministic mean: see
    # test_tts_hmm and the Coqui tests).
    hmm, states, n = _hmm_states()
    opts = SampleOptions(duration_threshold=0.5, max_frames=30, prenet_dropout_at_inference=True)

    def run(seeds, global_seed, options=opts):
        torch.manual_seed(global_seed)
        k = len(seeds)
        return hmm.sample(states.expand(k, -1, -1), n.expand(k), options, torch.full((k,), 0.5),
                          [torch.Generator().manual_seed(s) for s in seeds])

    a, la = run([1], 0)
    b, lb = run([1], 12345)                 # another global RNG state: same output
    assert torch.equal(a, b) and torch.equal(la, lb)
    c, lc = run([1, 2], 999)                # batched with another seed: item 0 unchanged (up to rounding)
    assert int(lc[0]) == int(la[0]) and torch.allclose(c[0, : int(lc[0])], a[0, : int(la[0])], atol=1e-5)
    off, _ = run([1], 0, SampleOptions(duration_threshold=0.5, max_frames=30, prenet_dropout_at_inference=False))
    assert not torch.equal(off[0, :4], a[0, :4])  # dropout really was applied


def test_batched_synthesis_vocodes_each_item_on_its_own_frames():
    """Issue 18.6: a batch used to pad shorter items with silence frames up to its longest item and
    vocode them together; now each item is vocoded alone on exactly its frames, so nothing of the
    batch (padding or another item) can reach it."""
    from tts_temp.tts.mel import LOG_FLOOR, MelConfig
    from tts_temp.tts.model import ModelConfig, OverFlow
    from tts_temp.tts.synthesize import SynthesisOptions, synthesize_batch
    from tts_temp.tts.text import SYMBOLS, FrontEnd
    from tts_temp.tts.voice import Voice

    torch.manual_seed(0)
    model = OverFlow(ModelConfig(n_symbols=len(SYMBOLS), encoder_dim=16, encoder_convs=1, prenet_dim=8,
                                 lstm_dim=16, flow_blocks=1, flow_hidden=8, flow_layers=1)).eval()
    voice = Voice(model, MelConfig(), mean=-5.0, std=2.0, frontend=FrontEnd(phonemes=False))
    seen = []

    class Recorder:
        sample_rate = 22050

        def __call__(self, frames):
            seen.append(frames.clone())
            return torch.zeros(frames.shape[0], frames.shape[-1] * 256)

    out = synthesize_batch(voice, "Glue the sheet.", [1.0, 1.0, 1.0], [1, 2, 3],
                           SynthesisOptions(duration="sample", max_seconds=3.0), vocoder=Recorder())
    lengths = [m.shape[1] for m in out.frames]
    assert len(set(lengths)) > 1, lengths
    assert len(seen) == 3 and all(f.shape[0] == 1 for f in seen)
    for i, n_i in enumerate(lengths):
        assert seen[i].shape[-1] == n_i                  # no padding frames at all
        assert torch.equal(seen[i][0], out.frames[i])
        assert not torch.isclose(seen[i][0, :, -1], torch.tensor(math.log(LOG_FLOOR))).all()
