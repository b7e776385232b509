"""A small mutation run: does the suite catch a wrong formula?

Each mutant is one string replacement in one file of models/, server/ (or, with --frontend, frontend/js/).
For each, the repository is copied to a temporary folder (the working tree is never touched), the
replacement is made there, and a targeted subset of the tests runs (`pytest -x -q` on the test files
that guard that code). A mutant is *killed* when those tests fail, *survived* when they pass, and
*not applied* when its text is no longer in the file (the code moved: update the mutant).

    python bench/mutation_run.py                # the models/ and server/ mutants (~3 min on 2 cores)
    python bench/mutation_run.py --frontend     # also the page's mutants (Chromium: a few minutes more)
    python bench/mutation_run.py --only cpc     # the mutants whose name contains "cpc"

Prints one line per mutant and the score, killed / applied.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("models", "server", "frontend", "tests", "pyproject.toml", "docs", "README.md")
TEST_TIMEOUT_S = 240  # one mutant's tests; a hang (a mutant that never converges) counts as killed


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str       # file to mutate, relative to the repository root
    old: str        # text replaced (every occurrence)
    new: str
    tests: tuple[str, ...]  # test files (or node ids) that should kill it
    frontend: bool = False
    elsewhere: tuple[tuple[str, str, str], ...] = ()  # (path, old, new) where the code lived or may move: the
    # first place whose text is found is mutated

    def places(self) -> list[tuple[str, str, str]]:
        return [(self.path, self.old, self.new), *self.elsewhere]


MUTANTS = [
    # issue 19's survivors
    Mutant("infonce scores without − log q", "models/methods.py", "scores = g - log_q  #", "scores = g  #",
           ("tests/models/test_trainer_formulas.py",),
           elsewhere=(("models/trainer.py", "scores = g - log_q  # infonce", "scores = g  # infonce"),)),
    Mutant("chunked infonce scores without − log q", "models/chunked_steps.py",
           "scores = model(points) - log_q(points)", "scores = model(points)",
           ("tests/models/test_chunked_steps.py",)),
    Mutant("cpc estimate with log(B − 1), seen by the live frame", "models/methods.py",
           "return math.log(batch_size) - loss", "return math.log(batch_size - 1) - loss",
           ("tests/models/test_trainer_formulas.py",),
           elsewhere=(("models/trainer.py", "estimates.append(math.log(cfg.batch_size) - loss)",
                       "estimates.append(math.log(cfg.batch_size - 1) - loss)"),)),
    Mutant("cpc estimate with log(B − 1), seen by the sweep", "models/methods.py",
           "return math.log(batch_size) - loss", "return math.log(batch_size - 1) - loss",
           ("tests/models/experiments/test_cpc_ceiling.py::test_a_constant_critic_measures_exactly_zero",),
           elsewhere=(("models/experiments/cpc_ceiling.py", "estimate[part] += math.log(batch) - losses",
                       "estimate[part] += math.log(batch - 1) - losses"),)),
    Mutant("cpc estimate with log(B − 1), seen by the optimal critic's value", "models/methods.py",
           "return math.log(batch_size) - loss", "return math.log(batch_size - 1) - loss",
           ("tests/models/experiments/test_cpc_ceiling.py::test_optimal_critic_value_at_zero_mi_is_exactly_zero",),
           elsewhere=(("models/experiments/cpc_ceiling.py",
                       "total += float((math.log(batch) - cpc_loss(scores)).sum())",
                       "total += float((math.log(batch - 1) - cpc_loss(scores)).sum())"),)),
    Mutant("efficiency noise count off by one", "models/experiments/efficiency.py",
           'return fixed_noise_count("nce", sample_size, nr, 0)',
           'return fixed_noise_count("nce", sample_size, nr, 0) + 1', ("tests/models/experiments/test_efficiency.py",)),
    Mutant("fixed noise count off by one", "models/methods.py", "return max(1, round(nr * sample_size))",
           "return max(1, round(nr * sample_size) + 1)",
           ("tests/models/test_fixed_sample.py", "tests/models/experiments/test_efficiency.py"),
           elsewhere=(("models/fixed_sample.py", "return max(1, round(nr * sample_size))",
                       "return max(1, round(nr * sample_size) + 1)"),)),
    Mutant("efficiency theory without the (1 + 1/N_r) term", "models/experiments/efficiency.py",
           "sigma = inverse - (1 + 1 / nr)", "sigma = inverse - 0 * (1 + 1 / nr)",
           ("tests/models/experiments/test_efficiency.py",)),
    Mutant("KDE bandwidth search without its finer step", "models/bandwidth.py",
           "best = CV_FACTORS[near[int(torch.argmax(_scores_from(*distances, [CV_FACTORS[i] for i in near])))]]",
           "best = CV_FACTORS[at]", ("tests/models/test_bandwidth.py",)),
    Mutant("noise_scale does not resend q", "server/runner.py",
           'LAYOUT_KNOBS = frozenset({"noise", "noise_fit", "noise_loc", "noise_scale"})',
           'LAYOUT_KNOBS = frozenset({"noise", "noise_fit", "noise_loc"})', ("tests/server/test_live_changes.py",)),
    Mutant("nr does not refresh the gradient", "server/runner.py", 'GRAD_KNOBS = LAYOUT_KNOBS | {"nr"}',
           "GRAD_KNOBS = LAYOUT_KNOBS", ("tests/server/test_live_changes.py",)),
    # flipped signs, dropped terms, off by one
    Mutant("nce logit + log N_r", "models/objectives.py", "return g - log_z - log_q - log_nr",
           "return g - log_z - log_q + log_nr", ("tests/models/test_objectives.py",)),
    Mutant("nce loss without the N_r weight", "models/objectives.py", "+ nr * F.logsigmoid(-h_neg).mean(-1)",
           "+ F.logsigmoid(-h_neg).mean(-1)", ("tests/models/test_objectives.py",)),
    Mutant("mle loss − log Z", "models/objectives.py", "return -g_data.mean() + log_z_true",
           "return -g_data.mean() - log_z_true", ("tests/models/test_objectives.py",)),
    Mutant("cpc loss + positives", "models/objectives.py",
           "(torch.logsumexp(scores, -1) - torch.diagonal(scores", "(torch.logsumexp(scores, -1) + torch.diagonal(scores",
           ("tests/models/test_objectives.py",)),
    Mutant("infonce loss without the positive's score", "models/objectives.py",
           "return (torch.logsumexp(logits, 1) - s_pos).mean()", "return torch.logsumexp(logits, 1).mean()",
           ("tests/models/test_objectives.py",)),
    Mutant("Scott's rule exponent 1/(d + 5)", "models/bandwidth.py", "n ** (-1.0 / (d + 4))", "n ** (-1.0 / (d + 5))",
           ("tests/models/test_bandwidth.py",)),
    Mutant("KDE leave-one-out normaliser 1/m", "models/bandwidth.py", "- math.log(m - 1) -", "- math.log(m) -",
           ("tests/models/test_bandwidth.py",)),
    Mutant("exact NCE fit without the N_r noise weight", "models/gaussian_fit.py",
           "noise_weight = float(nr) / x_noise.shape[1]", "noise_weight = 1.0 / x_noise.shape[1]",
           ("tests/models/test_gaussian_fit.py",)),
    Mutant("infonce fixed noise (k + 1) per point", "models/methods.py", "return k * sample_size",
           "return (k + 1) * sample_size", ("tests/models/test_fixed_sample.py",),
           elsewhere=(("models/fixed_sample.py", "return k * sample_size", "return (k + 1) * sample_size"),)),
    Mutant("coverage threshold ε = 0.1", "models/coverage.py", "COVERAGE_EPS = 0.01", "COVERAGE_EPS = 0.1",
           ("tests/models/test_coverage.py",)),
    Mutant("grid KL with a flipped sign", "models/grid.py", "p * (log_p - log_q)", "p * (log_q - log_p)",
           ("tests/models/test_trainer_formulas.py", "tests/models/test_trainer.py")),
    Mutant("MI ↔ correlation with e^(−MI)", "models/data.py", "math.sqrt(1.0 - math.exp(-2.0 * mi))",
           "math.sqrt(1.0 - math.exp(-mi))", ("tests/models/test_data.py", "tests/models/experiments/test_cpc_ceiling.py")),
    Mutant("EMA weight not 1 − decay", "models/averaging.py", "weight = 1.0 - self.decay_now(decay)",
           "weight = self.decay_now(decay)", ("tests/models/test_averaging.py",)),
    # the page (Chromium)
    Mutant("share link drops false and 0 knobs", "frontend/js/hash.js",
           "if (value === undefined || value === knob.default) continue;",
           "if (!value || value === knob.default) continue;", ("tests/frontend/test_page_mutants.py",), frontend=True),
    Mutant("frames from before a rebuild drawn", "frontend/js/run.js",
           "if (frame.config_rev !== undefined && frame.config_rev < this.minRev) return;",
           "if (false) return;", ("tests/frontend/test_page_mutants.py",), frontend=True),
    Mutant("coverage warning at 0.5", "frontend/js/panels.js", "const COVERAGE_WARN = 0.95;",
           "const COVERAGE_WARN = 0.5;", ("tests/frontend/test_page_mutants.py",), frontend=True),
]


def copy_tree(into: Path) -> None:
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.exists():
            shutil.copy2(source, into / name)


def run_tests(tree: Path, tests: tuple[str, ...]) -> tuple[bool, float, str]:
    """(passed, seconds, last line) of `pytest -x -q` on `tests` in `tree`, importing that tree's packages."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", "-rfE",
                               *tests], cwd=tree, env=env, capture_output=True, text=True, timeout=TEST_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False, time.perf_counter() - started, f"timed out after {TEST_TIMEOUT_S} s"
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    failed = [line for line in lines if line.startswith(("FAILED", "ERROR"))]  # which test caught it
    last = " | ".join(failed[:1] + lines[-1:]) if lines else done.stderr[-200:]
    return done.returncode == 0, time.perf_counter() - started, last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frontend", action="store_true", help="also the page's mutants (Chromium)")
    parser.add_argument("--only", default="", help="only the mutants whose name contains this text")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the first run of every test file unmutated (a failing one would 'kill' every mutant)")
    args = parser.parse_args()
    chosen = [m for m in MUTANTS if (args.frontend or not m.frontend) and args.only in m.name]
    killed = survived = skipped = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mutation-") as scratch:
        tree = Path(scratch) / "repo"
        copy_tree(tree)
        if not args.no_baseline:
            files = tuple(sorted({t for m in chosen for t in m.tests}))
            passed, seconds, last = run_tests(tree, files)
            print(f"baseline  {seconds:6.1f} s  {last}")
            if not passed:
                print("the unmutated tests fail: fix them first")
                return 2
        for mutant in chosen:
            found = [(path, old, new) for path, old, new in mutant.places()
                     if (tree / path).exists() and old in (tree / path).read_text()]
            if not found:
                skipped += 1
                print(f"not applied  {mutant.name}: its text is in none of {[p for p, _, _ in mutant.places()]}")
                continue
            path, old, new = found[0]
            target = tree / path
            original = target.read_text()
            count = original.count(old)
            target.write_text(original.replace(old, new))
            try:
                passed, seconds, last = run_tests(tree, mutant.tests)
            finally:
                target.write_text(original)
            if passed:
                survived += 1
            else:
                killed += 1
            print(f"{'SURVIVED' if passed else 'killed  '}  {seconds:6.1f} s  {mutant.name}  ({path}, "
                  f"{count} place{'s' if count > 1 else ''})  -- {last}", flush=True)
    applied = killed + survived
    score = killed / applied if applied else float("nan")
    print(f"\nscore: {killed} killed / {applied} applied = {score:.0%} ({survived} survived, {skipped} not applied) "
          f"in {time.perf_counter() - started:.0f} s")
    return 0 if survived == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
