"""Sweeps over the socket: progress, points and the result stream in; a second sweep cancels the
first; bad sweep configs are refused by field and the session goes on; a closed socket ends its sweep."""
from __future__ import annotations

import httpx

from .conftest import FAST, session_threads, wait_until

SMALL = {"experiment": "efficiency", "reps": 20, "nr": [1.0, 10.0], "sample_size": 200,
         "noises": [{"noise": "data"}, {"noise": "gaussian", "noise_scale": 2.0}]}
BIG = {"experiment": "efficiency", "reps": 100_000, "nr": [100.0], "sample_size": 100, "noises": [{"noise": "data"}]}


def sweep_messages(client, sweep_id: int, until: str, timeout: float = 60.0) -> list[dict]:
    """Every message of one sweep, up to and including the first of type `until`."""
    client.wait_for(lambda m: m.get("sweep_id") == sweep_id and m["type"] == until, timeout, f"{until} of {sweep_id}")
    return [m for m in client.seen if m.get("sweep_id") == sweep_id]


def test_a_sweep_streams_progress_points_and_its_result(live_server, client_for):
    client = client_for(live_server)
    client.send({"type": "sweep", "config": SMALL})
    messages = sweep_messages(client, 1, "sweep_done")
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "sweep_started" and kinds[1] == "sweep_theory" and kinds[-1] == "sweep_done"
    started = messages[0]
    assert started["models"] == 20 * 2 * 2 and started["config"]["reps"] == 20 and started["queued"] is False
    points = [m["point"] for m in messages if m["type"] == "sweep_point"]
    result = messages[-1]["result"]
    assert len(points) == 4 and result["points"] == points  # streamed points are the result's
    assert [(p["noise"]["noise"], p["nr"]) for p in points] == [("data", 1.0), ("data", 10.0),
                                                                ("gaussian", 1.0), ("gaussian", 10.0)]
    # q = p_d: the app's theory is 1 + 1/N_r exactly (4 significant digits on the wire)
    assert [p["theory"] for p in points[:2]] == [2.0, 1.1]
    assert all(p["ci"][0] <= p["measured"] <= p["ci"][1] for p in points)
    progress = [m for m in messages if m["type"] == "sweep_progress"]
    assert progress and progress[-1]["done"] == progress[-1]["total"] == 80
    assert [len(c["x"]) for c in result["theory_curves"]] == [81, 81]
    assert result["device"] == "cpu" and result["experiment"] == "efficiency"


def test_a_second_sweep_cancels_the_first(live_server, client_for):
    client = client_for(live_server)
    client.send({"type": "sweep", "config": BIG})
    client.wait_type("sweep_progress", timeout=30)  # the first is fitting
    client.send({"type": "sweep", "config": SMALL})
    sweep_messages(client, 1, "sweep_cancelled")
    sweep_messages(client, 2, "sweep_done")
    assert not [m for m in client.seen if m.get("sweep_id") == 1 and m["type"] == "sweep_done"]


def test_sweep_cancel_stops_it_and_says_so(live_server, client_for):
    client = client_for(live_server)
    client.send({"type": "sweep_cancel"})
    assert "no sweep is running" in client.wait_type("error")["message"]
    client.send({"type": "sweep", "config": BIG})
    client.wait_type("sweep_started", timeout=30)
    client.send({"type": "sweep_cancel"})
    sweep_messages(client, 1, "sweep_cancelled")


def test_a_bad_sweep_is_refused_by_field_and_the_session_goes_on(live_server, client_for):
    client = client_for(live_server)
    client.send({"type": "sweep", "config": {"experiment": "efficiency", "reps": 1, "nr": [5000], "junk": 1}})
    message = client.wait_type("sweep_error")["message"]
    assert "reps" in message and "greater than or equal to 2" in message
    assert "nr.0" in message and "1000" in message and "junk: unknown knob" in message
    client.send({"type": "sweep", "config": {"experiment": "nope"}})
    assert "experiment: must be one of efficiency, ranking, cpc_ceiling, nr_budget" in \
        client.wait_type("sweep_error", sweep_id=2)["message"]
    client.send({"type": "sweep", "config": {"experiment": "nr_budget", "data": "custom"}})
    assert "data: a sweep needs a preset" in client.wait_type("sweep_error", sweep_id=3)["message"]
    client.send({"type": "sweep", "config": "efficiency"})
    assert "'config' must be an object" in client.wait_type("error")["message"]
    assert client.start(FAST)["config_rev"] == 1  # the live run still works


def test_closing_the_socket_ends_its_sweep(live_server, client_for):
    client = client_for(live_server)
    client.send({"type": "sweep", "config": BIG})
    client.wait_type("sweep_progress", timeout=30)
    assert any("-sweep-" in t.name for t in session_threads())
    client.close()
    wait_until(lambda: not session_threads(), 10, "the session and its sweep to end")
    wait_until(lambda: httpx.get(f"{live_server}/api/health").json()["sessions"] == 0, 10, "the session count")


def test_a_second_page_waits_for_the_sweep_slot(make_server, client_for):
    server = make_server(sweep_slots=1)
    first, second = client_for(server), client_for(server)
    first.send({"type": "sweep", "config": BIG})
    first.wait_type("sweep_progress", timeout=30)
    second.send({"type": "sweep", "config": SMALL})
    assert second.wait_type("sweep_started", timeout=30)["queued"] is True
    first.send({"type": "sweep_cancel"})
    sweep_messages(second, 1, "sweep_done")


def test_the_schema_lists_the_experiments_with_defaults_and_bounds(live_server):
    experiments = httpx.get(f"{live_server}/api/schema").json()["experiments"]
    assert list(experiments) == ["efficiency", "ranking", "cpc_ceiling", "nr_budget"]
    efficiency = experiments["efficiency"]
    assert efficiency["axis"] == "nr" and efficiency["log_x"] is True
    assert efficiency["defaults"]["nr"] == [0.5, 1.0, 2.0, 5.0, 10.0, 100.0]
    assert efficiency["knobs"]["reps"]["minimum"] == 2 and efficiency["knobs"]["reps"]["maximum"] == 100_000
