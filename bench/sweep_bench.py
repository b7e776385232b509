"""Sweep speed and the experiments' headline numbers, as ratios measured side by side in one process.

    python bench/sweep_bench.py                  # all three parts
    python bench/sweep_bench.py --part batch     # 64 MLP models: batched vs one after another

batch       64 NCE models (MLP, fixed sample) trained as one BatchedTrainer vs 64 Trainers one after
            another, the same steps each; prints `ratio: X` (sequential seconds / batched seconds) for
            small steps (where per-step overhead dominates: what batching removes) and the live
            default's steps (compute-bound: on two CPU cores batching cannot help much; on a GPU it does).
efficiency  the `efficiency` experiment with q = p_d, N_r ∈ {0.5, 1, 2, 5, 10, 100}, T_d = 1000, 1000 reps:
            seconds, and each point against 1 + 1/N_r.
budget      `nr_budget` on bimodal (defaults): KL and |log Ẑ − log Z| against N_r, seconds per step.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from models.batched import BatchedTrainer  # noqa: E402
from models.config import RunConfig  # noqa: E402
from models.experiments import SweepContext, parse_sweep, run_sweep  # noqa: E402
from models.trainer import Trainer  # noqa: E402


BATCH_CASES = {  # (batch_size, N_r): per-model work per step, small and the live default
    "small (batch 64, N_r 1: 128 points per model-step)": (64, 1.0),
    "default (batch 256, N_r 10: 2 816 points per model-step)": (256, 10.0),
}


def bench_batch(models: int, steps: int) -> None:
    torch.set_num_threads(1)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"batch: {models} NCE MLPs (bimodal, T_d 512), {steps} steps each, 1 torch thread, on {device}")
    for name, (batch_size, nr) in BATCH_CASES.items():
        config = RunConfig(sample_size=512, nr=nr, steps=steps, batch_size=batch_size, device=device)
        trainers = [Trainer(config.model_copy(update={"seed": seed})) for seed in range(models)]
        batched = BatchedTrainer([Trainer(config.model_copy(update={"seed": seed})) for seed in range(models)])
        started = time.perf_counter()
        batched.step(steps)
        kl_batched = batched.evaluate()["kl"].cpu()  # waits for the device
        batched_s = time.perf_counter() - started
        started = time.perf_counter()
        for trainer in trainers:
            trainer.step(steps)
        kl_alone = torch.tensor([t.frame(with_grad=False)["kl"] for t in trainers], dtype=torch.float64)
        sequential_s = time.perf_counter() - started
        print(f"  {name}: one after another {sequential_s:.2f} s, batched {batched_s:.2f} s; "
              f"largest |KL batched - KL alone| {float((kl_batched - kl_alone).abs().max()):.1e}")
        print(f"ratio: {sequential_s / batched_s:.1f}   ({name})")


def bench_efficiency(reps: int, threads: int) -> None:
    torch.set_num_threads(threads)
    cfg = parse_sweep({"experiment": "efficiency", "reps": reps, "sample_size": 1000,
                       "nr": [0.5, 1, 2, 5, 10, 100], "noises": [{"noise": "data"}]})
    result = run_sweep(cfg, SweepContext())
    print(f"efficiency: q = p_d, T_d 1000, {reps} reps x 6 N_r, {threads} torch threads, on {result['device']}: "
          f"{result['seconds']:.1f} s")
    worst = 0.0
    for point in result["points"]:
        expected = 1 + 1 / point["nr"]
        off = point["measured"] / expected - 1
        worst = max(worst, abs(off))
        print(f"  N_r {point['nr']:>6g}: measured {point['measured']:.3f} [{point['ci'][0]:.3f}, {point['ci'][1]:.3f}]"
              f"  1 + 1/N_r = {expected:.3f}  ({off:+.1%})")
    print(f"  largest deviation from 1 + 1/N_r: {worst:.1%}; the MLE on the same data samples: "
          f"{result['points'][0]['mle_baseline']:.3f} (1 in expectation: the samples' shared luck)")


def bench_budget(threads: int) -> None:
    torch.set_num_threads(threads)
    result = run_sweep(parse_sweep({"experiment": "nr_budget"}), SweepContext())
    print(f"nr_budget: bimodal, T_d 512, {result['config']['reps']} seeds, {result['config']['steps']} steps, "
          f"{threads} torch threads: {result['seconds']:.1f} s")
    for point in result["points"]:
        print(f"  N_r {point['nr']:>6g}: KL {point['measured']:.4f} [{point['ci'][0]:.4f}, {point['ci'][1]:.4f}]"
              f"  |log Ẑ - log Z| {point['z_gap']:.4f}  {point['seconds_per_step'] * 1e3:.1f} ms/step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["batch", "efficiency", "budget", "all"], default="all")
    parser.add_argument("--models", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="for the efficiency and budget parts")
    args = parser.parse_args()
    if args.part in ("batch", "all"):
        bench_batch(args.models, args.steps)
    if args.part in ("efficiency", "all"):
        bench_efficiency(args.reps, args.threads)
    if args.part in ("budget", "all"):
        bench_budget(args.threads)


if __name__ == "__main__":
    main()
