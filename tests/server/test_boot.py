"""`nce-playground serve` opens its port before torch loads (server/boot.py): requests that arrive while
the real app is being built wait for it; a failed build stops the server with the reason."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import threading
import time

import httpx

from server import boot
from server.boot import DeferredApp
from .conftest import Client, free_port, run_coroutine


def _echo_app(started: list):
    """A stand-in for the real app: its lifespan notes that it ran; every request gets 200 'real'."""
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    started.append("startup")
                    await send({"type": "lifespan.startup.complete"})
                else:
                    started.append("shutdown")
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"real"})
    return app


async def _request(app) -> tuple[int, bytes]:
    replies: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        replies.append(message)

    await app({"type": "http", "method": "GET", "path": "/api/health", "headers": []}, receive, send)
    return replies[0]["status"], b"".join(m.get("body", b"") for m in replies[1:])


def test_startup_completes_while_the_build_is_held_and_early_requests_wait_for_the_real_app():
    release = threading.Event()
    inner_lifespan: list[str] = []

    def build():
        assert release.wait(10), "the test never released the build"
        return _echo_app(inner_lifespan)

    async def scenario():
        app = DeferredApp(build, on_failure=lambda: None)
        lifespan_in: asyncio.Queue = asyncio.Queue()
        lifespan_out: asyncio.Queue = asyncio.Queue()
        lifespan = asyncio.create_task(app({"type": "lifespan", "state": {}}, lifespan_in.get, lifespan_out.put))
        await lifespan_in.put({"type": "lifespan.startup"})
        # uvicorn opens the port when start-up completes: that must not wait for the build
        assert (await asyncio.wait_for(lifespan_out.get(), 5))["type"] == "lifespan.startup.complete"
        early = asyncio.create_task(_request(app))
        await asyncio.sleep(0.2)  # give the request every chance to answer early (it must not)
        assert not early.done(), "a request was answered before the real app existed"
        release.set()
        status, body = await asyncio.wait_for(early, 10)
        assert (status, body) == (200, b"real")
        assert inner_lifespan == ["startup"], "the real app's lifespan must run before it serves"
        await lifespan_in.put({"type": "lifespan.shutdown"})
        assert (await asyncio.wait_for(lifespan_out.get(), 5))["type"] == "lifespan.shutdown.complete"
        await asyncio.wait_for(lifespan, 5)
        assert inner_lifespan == ["startup", "shutdown"]
        return app

    app = run_coroutine(scenario())
    assert app.failure is None


def test_a_failed_build_is_reported_and_stops_the_server(monkeypatch, caplog):
    # logged under a test logger: the suite's guard fails any test whose server logs an error
    monkeypatch.setattr(boot, "log", logging.getLogger("tests.boot"))
    stopped = threading.Event()

    def build():
        raise ValueError("device: 'cuda' was asked for but no CUDA device is available")

    async def scenario():
        app = DeferredApp(build, on_failure=stopped.set)
        lifespan_in: asyncio.Queue = asyncio.Queue()
        lifespan_out: asyncio.Queue = asyncio.Queue()
        asyncio.create_task(app({"type": "lifespan", "state": {}}, lifespan_in.get, lifespan_out.put))
        await lifespan_in.put({"type": "lifespan.startup"})
        await asyncio.wait_for(lifespan_out.get(), 5)
        status, body = await asyncio.wait_for(_request(app), 10)
        return app, status, json.loads(body)

    app, status, body = run_coroutine(scenario())
    assert stopped.is_set()
    assert status == 503 and "no CUDA device" in body["detail"]
    assert "no CUDA device" in app.failure
    assert any("failed to start" in r.getMessage() for r in caplog.records if r.name == "tests.boot")


def _serve(port: int, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
                            env={**os.environ, **env}, stderr=subprocess.PIPE, text=True)


def test_serve_answers_and_trains_through_the_deferred_app():
    port = free_port()
    server = _serve(port)
    try:
        deadline = time.monotonic() + 90
        while True:  # wait for the port, then for a real answer (a request made early waits for the app)
            assert server.poll() is None, server.stderr.read()
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=60)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve never opened its port"
                time.sleep(0.05)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        with Client(f"ws://127.0.0.1:{port}/api/ws") as client:
            client.start({"steps": 30, "batch_size": 32, "grid": 32})
            assert client.wait_type("status", 60, state="done")["step"] == 30
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[1]
    assert "app ready" in log


def test_serve_stops_with_the_reason_when_the_app_cannot_start():
    server = _serve(free_port(), NCE_DEVICE="cuda", CUDA_VISIBLE_DEVICES="")
    try:
        code = server.wait(timeout=90)
    finally:
        if server.poll() is None:
            server.kill()
    log = server.stderr.read()
    assert code != 0
    assert "no CUDA device is available" in log


def test_serve_refuses_a_bad_setting_by_its_variable_name():
    server = _serve(free_port(), NCE_FRAME_RATE="1000")
    code = server.wait(timeout=30)
    log = server.stderr.read()
    assert code == 2
    assert "NCE_FRAME_RATE" in log and "60" in log
