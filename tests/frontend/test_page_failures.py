"""Bad things happen: a lost connection, refused sessions (1013, 4401, 4408), a diverged run, a
refused change. Each shows a clear message and the page stays usable."""
from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.timeout(120)
SOCKET = re.compile(r".*/api/ws.*")


def _proxy(page) -> dict:
    """Route the page's sockets through Playwright to the real server; returns {'ws': the latest route}."""
    routes = {"count": 0}

    def handle(route):
        route.connect_to_server()
        routes["ws"] = route
        routes["count"] += 1

    page.route_web_socket(SOCKET, handle)
    return routes


def test_a_lost_connection_reconnects_and_starts_again_with_the_same_config(live_server, driver):
    routes = _proxy(driver.page)
    page = driver.open(live_server, nr=42).page
    driver.click("play")
    driver.wait_steps_above(20)
    routes["ws"].close(code=1012, reason="server restarting")
    driver.wait_message("connection lost")
    page.wait_for_selector('[data-testid="connection"][data-state="open"]')
    driver.wait_message("reconnected")
    assert routes["count"] == 2
    assert driver.value("nr-input") == "42"  # the new session got the same config
    driver.wait_trace("grad-plot", "nr-marker", "t.x[0] === 42")
    driver.shot("reconnected")


def test_a_refused_token_is_reported_and_not_retried(live_server, driver):
    page = driver.page
    routes = {"count": 0}

    def refuse(route):
        routes["count"] += 1
        route.close(code=4401, reason="bad or missing token")

    page.route_web_socket(SOCKET, refuse)
    page.goto(f"{live_server}/")
    text = driver.wait_message("refused")
    assert "token" in text
    page.wait_for_selector('[data-testid="connection"][data-state="refused"]')
    assert routes["count"] == 1
    assert page.locator('[data-testid="message"] button.action').count() == 1  # "Try again"
    driver.click("lesson-nce-learns-z")  # still usable: no crash, the lesson card opens
    assert page.is_visible('[data-testid="lesson-card"]')


def test_the_token_from_the_page_url_reaches_the_api_and_the_socket(make_server, driver):
    server = make_server(token="XYZ-16-characters")
    driver.page.goto(f"{server}/?token=XYZ-16-characters#grid=32&hidden=16")
    driver.wait_ready()
    driver.click("play")
    driver.wait_steps_above(5)
    driver.click("share")
    assert "token=XYZ-16-characters" in driver.value("share-link")


def test_a_full_server_is_reported_and_retried(make_server, driver, context):
    server = make_server(max_sessions=1)
    first = type(driver)(context.new_page())
    first.open(server)
    driver.page.goto(f"{server}/#grid=32&hidden=16")
    text = driver.wait_message("busy")
    assert "connection lost" in text.lower()
    first.page.close()  # a place frees up: the waiting page gets in on its own
    driver.page.wait_for_selector('[data-testid="connection"][data-state="open"]', timeout=30000)
    driver.wait_state("paused")


def test_a_session_limit_closes_with_its_reason(make_server, driver):
    # a wall-clock limit: a step limit could be spent before the page holds its run at step 0, since
    # `start` begins running (see the report on the protocol)
    server = make_server(max_session_seconds=4)
    driver.open(server)
    driver.click("play")
    text = driver.wait_message("limits")
    assert "time limit of 4 s" in text  # the server's reason, in the page
    driver.page.wait_for_selector('[data-testid="connection"][data-state="refused"]')
    assert driver.page.locator('[data-testid="message"] button.action').count() == 1  # "Try again"
    driver.click("lesson-nce-learns-z")  # the page stays usable
    assert driver.page.is_visible('[data-testid="lesson-card"]')


def test_a_diverged_run_says_what_to_do(live_server, driver):
    routes = _proxy(driver.page)
    driver.open(live_server)
    routes["ws"].send(json.dumps({"type": "status", "state": "diverged",
                                  "message": "loss became nan at step 12; lower lr (now 10) and reset"}))
    text = driver.wait_message("diverged")
    assert "lower lr" in text and "Reset" in text
    driver.wait_text("status", "diverged")
    driver.click("reset")
    driver.wait_state("paused")
    driver.shot("diverged-message")


def test_a_refused_change_is_reported_and_the_control_reverts(live_server, driver):
    page = driver.open(live_server).page
    driver.set_knob("nr-input", "5000", accepted=False)
    text = driver.wait_message("not applied")
    assert "nr" in text and "1000" in text
    page.wait_for_function("() => document.querySelector('[data-testid=nr-input]').value === '10'")
    assert "nr=5000" not in page.evaluate("location.hash")
