"""Build the Dockerfile for real and run its image (opt-in: several minutes, root, buildah).

    NCE_IMAGE_TEST=1 python -m pytest -q tests/test_image.py

runs ../shared/tools/image-smoke.sh (or the script NCE_IMAGE_SMOKE names): buildah builds the
Dockerfile as written (chroot isolation, no daemon) on a Debian stand-in of the base image, then runs
the image's CMD, its HEALTHCHECK command and one WebSocket session. Skipped unless buildah is
installed and NCE_IMAGE_TEST=1."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = Path(os.environ.get("NCE_IMAGE_SMOKE", ROOT.parent / "shared" / "tools" / "image-smoke.sh"))

pytestmark = pytest.mark.skipif(not (shutil.which("buildah") and os.environ.get("NCE_IMAGE_TEST") == "1"),
                                reason="builds the image for real: needs buildah and NCE_IMAGE_TEST=1")


@pytest.mark.timeout(1800)
def test_the_image_builds_and_serves_the_app():
    assert SMOKE.is_file(), f"no image smoke script at {SMOKE} (set NCE_IMAGE_SMOKE)"
    proc = subprocess.run(["bash", str(SMOKE), str(ROOT)], capture_output=True, text=True, timeout=1800)
    report = proc.stdout + proc.stderr[-4000:]
    assert proc.returncode == 0, report
    assert "ok: the Dockerfile builds and its image serves the app" in proc.stdout, report
    assert "socket: a 200-step session ended 'done'" in proc.stdout, report
