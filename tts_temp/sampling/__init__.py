"""One home for sampling: the temperature math (discrete and continuous) and the seed rules."""
from tts_temp.sampling.seeds import SEED_LIMIT, check_seed, derive_seed, draw_seed, generator, resolve_seed
from tts_temp.sampling.temperature import (
    check_temperature, check_top_k, check_top_p, entropy, filter_top_k, filter_top_p, sample_gaussian,
    sample_gaussian_rows, sample_logits, tempered_log_softmax, tempered_softmax,
)

__all__ = [
    "SEED_LIMIT", "check_seed", "derive_seed", "draw_seed", "generator", "resolve_seed",
    "check_temperature", "check_top_k", "check_top_p", "entropy", "filter_top_k", "filter_top_p",
    "sample_gaussian", "sample_gaussian_rows", "sample_logits", "tempered_log_softmax", "tempered_softmax",
]
