"""How long a stop takes to act during one MLE step on uploaded 2-D data (issue 10's case; the KDE
budget allows at most 381 rows at grid 512): the step
runs in a thread (one torch thread, as a server session does); `stop` turns True after --after seconds;
printed: the time from the flag to the thread's end, and what the step did (Stopped, or finished).

    python bench/mle_stop_bench.py [--rows 300] [--grid 512] [--hidden 256] [--depth 4] [--after 2]
"""
from __future__ import annotations

import argparse
import threading
import time

import torch

from models.config import RunConfig
from models.trainer import Stopped, Trainer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--grid", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--after", type=float, default=2.0, help="seconds into the step when stop turns True")
    args = parser.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-2.0, 0.0], [2.0, 1.0]])
    samples = (centres[torch.randint(0, 2, (args.rows,), generator=gen)]
               + 0.5 * torch.randn(args.rows, 2, generator=gen)).double()  # (rows, 2)
    flag = threading.Event()
    start = time.perf_counter()
    trainer = Trainer(RunConfig(data="custom", data_file="upload:bench", method="mle", grid=args.grid,
                                hidden=args.hidden, depth=args.depth), samples=samples, stop=flag.is_set)
    trainer.mle_grid  # the KDE on the grid (stop-aware already): built before the timed step
    print(f"build: {time.perf_counter() - start:.1f} s")
    outcome = {}

    def work() -> None:
        torch.set_num_threads(1)  # per thread (OpenMP)
        began = time.perf_counter()
        try:
            outcome["what"] = f"finished ({trainer.step(1)} step)"
        except Stopped:
            outcome["what"] = "Stopped"
        outcome["seconds"] = time.perf_counter() - began

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(args.after)
    flagged = time.perf_counter()
    flag.set()
    thread.join()
    print(f"stop flag at {args.after:.1f} s into the step; thread ended {time.perf_counter() - flagged:.2f} s "
          f"later: {outcome['what']} (step ran {outcome['seconds']:.1f} s)")


if __name__ == "__main__":
    main()
