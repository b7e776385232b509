"""Engine speed: steps/s of the default runs, as ratios to the default 1-D NCE run measured in the
same process (the machine is shared; only side-by-side ratios mean much).

    python bench/engine_bench.py [--seconds 3]
"""
from __future__ import annotations

import argparse
import time

import torch

from models.config import RunConfig
from models.trainer import Trainer

CASES = {
    "1-D nce (default: bimodal)": dict(),
    "1-D mle": dict(method="mle"),
    "1-D infonce": dict(method="infonce"),
    "2-D nce (two_moons)": dict(data="two_moons"),
    "2-D mle (two_moons)": dict(data="two_moons", method="mle"),
    "cpc": dict(method="cpc"),
}


def steps_per_second(knobs: dict, seconds: float) -> tuple[float, float]:
    trainer = Trainer(RunConfig(steps=1_000_000, **knobs))
    trainer.step(10)  # warm-up
    start, taken = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        taken += trainer.step(20)
    rate = taken / (time.perf_counter() - start)
    start = time.perf_counter()
    trainer.frame(resolution=48 if trainer.dim == 2 else None, with_grad=trainer.config.method != "cpc")
    return rate, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    baseline = None
    for name, knobs in CASES.items():
        rate, frame_s = steps_per_second(knobs, args.seconds)
        baseline = baseline or rate
        print(f"{name:28s} {rate:8.0f} steps/s  ({rate / baseline:5.2f}x baseline)   one frame: {frame_s * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
