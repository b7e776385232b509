"""Exports for slides and handouts: a PNG of any panel, one PNG of the whole dashboard, and a standalone
HTML report that opens with the network blocked."""
from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import pytest

from .conftest import Driver, watched_context, watched_test

pytestmark = pytest.mark.timeout(150)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel


def read_png(data: bytes) -> dict:
    """Parse a PNG (independently of the browser): check the signature, every chunk's CRC and that the
    image data inflates to height rows of width pixels; return width, height and the distinct row bytes."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG signature"
    pos, chunks, idat = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc, = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.append(kind)
        if kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    raw = zlib.decompress(idat)
    assert depth == 8
    assert len(raw) == height * (1 + width * CHANNELS[colour])
    return {"width": width, "height": height, "distinct_bytes": len(set(raw[::97]))}


def download_bytes(page, testid: str):
    with page.expect_download() as info:
        page.click(f'[data-testid="{testid}"]')
    download = info.value
    return download.suggested_filename, Path(download.path()).read_bytes()


def trained(driver, live_server, **knobs):
    driver.open(live_server, **knobs)
    driver.click("play")
    driver.wait_steps_above(40)
    driver.click("pause")
    driver.wait_state("paused")
    return driver.page


@pytest.fixture(scope="module")
def trained_page(browser, module_server):
    """One run trained past step 40 at N_r = 5 and paused, opened once for the three exports below: they
    only read it (a page load and its training cost seconds of CPU each)."""
    context = watched_context(browser)
    driver = Driver(context.new_page())
    with watched_test(context):
        trained(driver, module_server, nr=5)
    yield driver
    context.close()


@pytest.fixture
def exporter(trained_page):
    """The trained page for one test, which fails on the browser errors that appear during it."""
    with watched_test(trained_page.page.context):
        assert trained_page.text("status") == "paused"  # as trained: no earlier test moved it on
        yield trained_page


def test_a_panel_png_downloads_at_twice_its_size_on_the_page(exporter):
    page = exporter.page
    for name in ("density", "kl"):  # one in view, one that may be below the fold
        plot = page.locator(f'[data-testid="{name}-plot"]')
        name_, data = download_bytes(page, f"export-png-{name}")
        assert name_.endswith(f"-{name}.png") and "nce-bimodal" in name_
        png = read_png(data)
        box = plot.bounding_box()
        assert abs(png["width"] - 2 * box["width"]) <= 2 and abs(png["height"] - 2 * box["height"]) <= 2
        assert png["width"] >= 400 and png["distinct_bytes"] > 8  # a picture, not a blank
        assert len(data) > 5_000


def test_the_dashboard_png_composes_every_panel(exporter):
    page = exporter.page
    _, panel = download_bytes(page, "export-png-density")
    name, dashboard = download_bytes(page, "export-dashboard")
    assert name.endswith("-dashboard.png")
    one, whole = read_png(panel), read_png(dashboard)
    grid = page.locator("#panels").bounding_box()
    assert abs(whole["width"] - 2 * (grid["width"] + 32)) <= 4  # the panel grid as laid out, plus a margin
    assert whole["height"] > 2 * grid["height"]                # and a title line above it
    assert whole["width"] * whole["height"] > 3 * one["width"] * one["height"]
    assert len(dashboard) > len(panel)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "dashboard-export.png").write_bytes(dashboard)  # to look at


def test_the_report_is_one_offline_html_file_with_config_and_numbers(exporter):
    driver, page = exporter, exporter.page
    step = driver.step_count()
    name, data = download_bytes(page, "export-report")
    assert name.endswith("-report.html")
    html = data.decode("utf-8")
    # offline: nothing to fetch; no script at all
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//[^"']*\.(js|css)""", html, re.I)
    assert "url(" not in html and "@import" not in html
    images = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(images) >= 6 and all(src.startswith("data:image/png;base64,") for src in images)
    # the config line, the config table and the final numbers
    assert "N_r 5" in html and "data bimodal" in html
    assert re.search(r"<td>grid</td><td>32</td>", html) and re.search(r"<td>nr</td><td>5</td>", html)
    assert re.search(rf"<tbody><tr><td>NCE</td><td>{step}</td>", html)  # the numbers at the exported step
    for label in ("KL(p_d ‖ p_θ)", "log Ẑ − log Z", "cos(g_NCE, g_MLE)"):
        assert label in html

    # opened later, with no server and no network: every image shows
    fresh = page.context.new_page()
    requests = []
    fresh.on("request", lambda request: requests.append(request.url))
    fresh.route("**/*", lambda route: route.abort())
    fresh.set_content(html)
    fresh.wait_for_function("() => [...document.images].length >= 6 && "
                            "[...document.images].every(img => img.complete && img.naturalWidth > 200)")
    assert [u for u in requests if not u.startswith("data:")] == []
    assert "NCE" in fresh.inner_text('[data-testid="report-numbers"]')
    fresh.screenshot(path=str(ARTIFACTS / "report-offline.png"), full_page=True)


def test_cpc_exports_its_own_panels_and_numbers(live_server, driver):
    page = driver.open(live_server, method="cpc", mi=2).page
    page.select_option('[data-testid="step-size"]', "10")
    driver.click("step")
    driver.wait_text("step-count", "^10$")
    _, data = download_bytes(page, "export-png-mi")
    assert read_png(data)["width"] >= 400
    _, dashboard = download_bytes(page, "export-dashboard")
    assert read_png(dashboard)["height"] > read_png(data)["height"]
    _, report = download_bytes(page, "export-report")
    html = report.decode("utf-8")
    assert "CPC · true MI 2 nats" in html
    numbers = html[html.index('data-testid="report-numbers"'):]
    numbers = numbers[:numbers.index("</table>")]
    assert "MI estimate" in numbers and "true MI" in numbers and "log Ẑ" not in numbers  # no column that does not apply
    assert 'data-panel="mi"' in html and 'data-panel="density"' not in html
