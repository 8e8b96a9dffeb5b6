"""Seeds: one range, one way to draw one, one way to derive one, one way to turn one into a generator.

Every seed this project records is an integer in [0, 2**53). That range is the largest whose
integers survive a round trip through JSON readers that parse numbers as doubles (JavaScript, jq):
a seed that came back rounded would silently replay another run. "No seed given" means: draw one
here, use it, and report it, so that every sampled result can be replayed.
"""
from __future__ import annotations

import hashlib
import secrets

import torch

from tts_temp.errors import UserError

SEED_LIMIT = 2**53


def check_seed(seed: object, name: str = "seed") -> int:
    """An integer seed in [0, 2**53), or a UserError that says what the range is."""
    if isinstance(seed, bool):
        raise UserError(f"{name} must be an integer in [0, 2**53), got {seed!r}")
    try:
        value = int(seed)  # type: ignore[call-overload]
        exact = value == seed or (isinstance(seed, str) and str(value) == seed.strip())
    except (TypeError, ValueError, OverflowError):
        exact = False
    if not exact or not 0 <= value < SEED_LIMIT:
        raise UserError(f"{name} must be an integer in [0, 2**53), got {seed!r}")
    return value


def draw_seed() -> int:
    """A fresh seed for a run the user did not seed (record it with the result)."""
    return secrets.randbelow(SEED_LIMIT)


def resolve_seed(seed: object | None) -> int:
    """The user's seed, checked, or a freshly drawn one."""
    return draw_seed() if seed is None else check_seed(seed)


def derive_seed(base: int, *keys: int | str) -> int:
    """A stable seed for a part of a run (a window, an attempt, a retry) from the run's seed.

    Distinct keys give unrelated seeds (a hash, not an offset), the same keys always the same one,
    on every machine and Python version, and the result stays in [0, 2**53).
    """
    text = ":".join(str(k) for k in (check_seed(base), *keys))
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % SEED_LIMIT


def generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on the device whose draws it feeds (torch refuses a CPU generator for CUDA draws);
    seeded from `seed`, or from fresh entropy when None (then the caller cannot replay it)."""
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    return gen
