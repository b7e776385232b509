"""Engine speed: steps/s of the default runs, as ratios to the default 1-D NCE run measured in the
same process (the machine is shared; only side-by-side ratios mean much), and what one frame costs:
2-D frames at the server's 48 cells per axis, every frame but CPC's with the gradient comparison.

    python bench/engine_bench.py [--seconds 3] [--threads N]
"""
from __future__ import annotations

import argparse
import statistics
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
    "2-D mle (pinwheel)": dict(data="pinwheel", method="mle"),
    "cpc": dict(method="cpc"),
}
FRAMES = 5  # frames timed after the first; the median is printed (the first also builds grid views)


def measure(knobs: dict, seconds: float) -> tuple[float, float, float]:
    """(steps/s, first frame s, median frame s)."""
    trainer = Trainer(RunConfig(steps=1_000_000, **knobs))
    trainer.step(10)  # warm-up
    start, taken = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        taken += trainer.step(20)
    rate = taken / (time.perf_counter() - start)
    frame_s = []
    for _ in range(1 + FRAMES):
        start = time.perf_counter()
        trainer.frame(resolution=48 if trainer.dim == 2 else None, with_grad=trainer.config.method != "cpc")
        frame_s.append(time.perf_counter() - start)
    return rate, frame_s[0], statistics.median(frame_s[1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads; default: both the engine's 1 and torch's own default, "
                             "one after the other (the thread policy's evidence)")
    args = parser.parse_args()
    default_threads = torch.get_num_threads()
    for threads in [args.threads] if args.threads else sorted({1, default_threads}):
        torch.set_num_threads(threads)
        print(f"torch {torch.__version__}, {threads} thread(s)")
        baseline = None
        for name, knobs in CASES.items():
            rate, first_s, frame_s = measure(knobs, args.seconds)
            baseline = baseline or rate
            print(f"{name:28s} {rate:8.0f} steps/s  ({rate / baseline:5.2f}x baseline)   "
                  f"one frame: {frame_s * 1000:6.1f} ms (first {first_s * 1000:6.1f} ms)")


if __name__ == "__main__":
    main()
