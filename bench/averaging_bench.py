"""What the moving average θ̄ (models/averaging.py) costs a training step, and what it buys a frame.

Cost: the same Trainer stepped with the average updated and with the update skipped, alternating
rounds in one process; prints steps/s of each and their ratio. Gain: frames 10 steps apart on the
default bimodal NCE run, past step 200, from θ itself and from θ̄: the mean |Δ log Z| between frames.

    python bench/averaging_bench.py [--rounds 5] [--steps 300]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from models.config import RunConfig  # noqa: E402
from models.threads import set_torch_threads  # noqa: E402
from models.trainer import Trainer  # noqa: E402


def steps_per_s(config: RunConfig, steps: int, averaged: bool) -> float:
    trainer = Trainer(config)
    if not averaged:
        trainer.average.update = lambda *args, **kwargs: None  # the step without θ̄
    trainer.step(20)  # warm-up: first Adam steps, allocations
    start = time.perf_counter()
    trainer.step(steps)
    return steps / (time.perf_counter() - start)


def log_z_jitter(seed: int) -> tuple[float, float]:
    """Mean |Δ log Z| between frames 10 steps apart (steps 200–600): (θ, θ̄)."""
    trainer = Trainer(RunConfig(seed=seed))
    view = trainer.view(trainer.config.grid)
    raw, shown = [], []
    while trainer.step_count < 600:
        trainer.step(10)
        if trainer.step_count < 200:
            continue
        with torch.no_grad():
            raw.append(float(view.grid.log_integral(trainer.model(view.grid.points).double())))
        shown.append(trainer.frame(with_grad=False, arrays=False)["log_z_true"])

    def mean_step(values: list[float]) -> float:
        return statistics.fmean(abs(a - b) for a, b in zip(values[1:], values[:-1]))
    return mean_step(raw), mean_step(shown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    set_torch_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s); median of {args.rounds} alternating rounds")
    for name, config in [("1-D NCE (bimodal)", RunConfig(steps=10**6)),
                         ("2-D NCE (two moons)", RunConfig(data="two_moons", steps=10**6)),
                         ("1-D MLE (bimodal)", RunConfig(method="mle", steps=10**6))]:
        with_average, without = [], []
        for _ in range(args.rounds):
            with_average.append(steps_per_s(config, args.steps, True))
            without.append(steps_per_s(config, args.steps, False))
        a, b = statistics.median(with_average), statistics.median(without)
        print(f"{name:22s} steps/s with θ̄ {a:7.1f}  without {b:7.1f}  ratio {a / b:.3f}")
    for seed in range(3):
        raw, shown = log_z_jitter(seed)
        print(f"seed {seed}: mean |Δ log Z| per 10 steps: θ {raw:.4f}, θ̄ {shown:.4f} ({raw / shown:.1f}x less)")


if __name__ == "__main__":
    main()
