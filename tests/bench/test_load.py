"""The workshop load test, small: 16 clients training at once for 10 s against one server.
Asserts behaviour only (no errors, no client starved of frames next to the others, sessions end, no
memory growth across rounds); the timings themselves are the bench script's to print."""
import importlib.util
import sys
from pathlib import Path

spec = importlib.util.spec_from_file_location("load_test", Path(__file__).resolve().parents[2] / "bench" / "load_test.py")
load_test_module = importlib.util.module_from_spec(spec)
sys.modules["load_test"] = load_test_module  # dataclasses look their module up there
spec.loader.exec_module(load_test_module)


def test_sixteen_clients_all_get_frames_and_nothing_leaks():
    # one training slot: the 16 sessions take turns on one core (the scheduler's fairness is what is
    # checked), and the other core stays free for the rest of the suite
    summary = load_test_module.load_test(clients=16, seconds=10, rounds=2, train_slots=1,
                                         config={"method": "nce", "data": "bimodal", "steps": 1_000_000})
    assert summary["errors"] == [], summary
    # no client starves: a fairness condition, not a speed one (a slow or busy machine lowers every rate
    # alike; an absolute floor of 3 frames/s failed at 2.998 on a VM running three times slower than usual)
    assert summary["frames_per_s_min"] > 0.3 * summary["frames_per_s_median"] > 0, summary
    assert summary["steps_per_s_total"] > 0
    assert summary["sessions_ended"]
    first, second = summary["rss_after_rounds_mb"]
    assert second - first < 50, summary  # a second identical round must not keep what the first left
