"""Fixed samples: the `sample_size` knob (T_d).

With sample_size = T_d, a run fits one finite sample instead of the population loss:
T_d data points and the method's count of noise points (NCE: round(N_r · T_d); InfoNCE: k per data
point, paired; models/methods.py) are drawn
once and every step takes its minibatch from them. That is the setting of NCE's efficiency results
(Gutmann & Hyvärinen 2012): the estimate's error now depends on T_d and N_r.

Each sample comes from its own generator, seeded from (seed, stream), so it depends only on the
seed and on what it is a sample of, never on how many steps came before: a live change of N_r redraws
the same noise sample every time, and a batched sweep draws exactly what a single Trainer draws.
"""
from __future__ import annotations

import torch

from .densities import Density

MAX_FIXED_NOISE = 4_000_000  # noise points kept in memory per run (2-D float32: 32 MB)
DATA_STREAM, NOISE_STREAM = 2, 3  # the Trainer's training and frame generators use seed and seed + 1


def fixed_noise_count(method: str, sample_size: int, nr: float, k: int) -> int:
    """How many noise points a fixed sample holds: the method's own count (models/methods.py: k · T_d for
    InfoNCE, max(1, round(N_r · T_d)) for NCE, none for MLE and CPC)."""
    from .methods import METHODS  # methods.py builds models; this module stays below it
    return METHODS[method].fixed_noise_count(sample_size, nr, k)


def stream_generator(seed: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator for one named stream of one seed. Streams of different seeds do not overlap
    (seed and seed + 1 would, for the Trainer's own two generators)."""
    mixed = (seed * 0x9E3779B97F4A7C15 + stream * 0xBF58476D1CE4E5B9) % (2 ** 63 - 1)
    return torch.Generator(device=device).manual_seed(mixed)


def draw_fixed_data(data: Density, sample_size: int, seed: int, device: torch.device | str = "cpu",
                    rows: torch.Tensor | None = None) -> torch.Tensor:
    """(T_d, d) float32: T_d draws from p_d, or for custom data (`rows`, (n, d)) a random subset of
    min(T_d, n) of its rows."""
    gen = stream_generator(seed, DATA_STREAM, device)
    if rows is not None:
        order = torch.randperm(rows.shape[0], generator=gen, device=device)[:sample_size]
        return rows.to(device, torch.float32)[order]
    return data.sample(sample_size, gen).to(torch.float32)


def draw_fixed_noise(noise: Density, count: int, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(count, d) float32 draws from q."""
    return noise.sample(count, stream_generator(seed, NOISE_STREAM, device)).to(torch.float32)
