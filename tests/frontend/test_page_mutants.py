"""Page behaviours that a wrong line of the page would break silently (issue 19: each test was seen to
fail on a hand-made mutant): a share link keeps knobs that are false or 0, a frame from before a rebuild
is not drawn, and the coverage warning's threshold is 0.95.

The frames below go through the page's own message handler: an init script records the page's
WebSockets and the last frame each received, and a test dispatches a copy of that frame, changed, as a
`message` event on the same socket (what the server sending it would do)."""
from __future__ import annotations

from typing import Iterator

import pytest

from .conftest import SharedDriver, watched_context, watched_test

pytestmark = pytest.mark.timeout(120)

RECORD_SOCKETS = """(() => {
  const Native = window.WebSocket;
  window.__lastFrame = null;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', event => {
        let message = null;
        try { message = JSON.parse(event.data); } catch { return; }
        if (message.type === 'frame' && !message.injected && message.grid) window.__lastFrame = { socket: this, frame: message };
      });
    }
  };
})();"""

INJECT = """changes => {
  const { socket, frame } = window.__lastFrame;
  const copy = JSON.parse(JSON.stringify(frame));
  Object.assign(copy, changes.top, { injected: true });
  if (changes.grid) Object.assign(copy.grid, changes.grid);
  socket.dispatchEvent(new MessageEvent('message', { data: JSON.stringify(copy) }));
}"""


DRAWN_FROM_LAST_FRAME = """(() => { const log_p = window.__lastFrame.frame.grid.log_p;
    return Boolean(log_p) && t.y.length === log_p.length
      && t.y.every((v, i) => Math.abs(v - Math.exp(log_p[i])) <= 1e-9 * Math.abs(v)); })()"""


@pytest.fixture(scope="module")
def recording_page(browser, module_server) -> Iterator[SharedDriver]:
    context = watched_context(browser)
    page = context.new_page()
    page.allowed_errors = context.allowed_errors
    page.add_init_script(RECORD_SOCKETS)
    yield SharedDriver(page)
    context.close()


@pytest.fixture
def recorded(recording_page) -> Iterator[SharedDriver]:
    with watched_test(recording_page.page.context):
        yield recording_page


def wait_recorded_frame(driver: SharedDriver, rev: int) -> None:
    driver.page.wait_for_function("rev => window.__lastFrame && window.__lastFrame.frame.config_rev === rev", arg=rev)


def test_a_share_link_keeps_knobs_that_are_false_or_zero(module_server, recorded):
    page = recorded.open(module_server, learn_log_z=False, noise_fit=False, noise_loc=0, ema_decay=0).page
    recorded.click("share")
    link = page.input_value('[data-testid="share-link"]')
    for part in ("learn_log_z=false", "noise_fit=false", "ema_decay=0"):
        assert part in link, link
    assert "noise_loc" not in link  # 0 is its default: links carry only what differs
    recorded.open(module_server)  # back to the defaults...
    assert recorded.checked("learn_log_z") and recorded.checked("noise_fit")
    rev = recorded.text("config-rev")
    recorded.paste_hash("#" + link.split("#", 1)[1])  # ...then the link, as pasted
    page.wait_for_function("rev => document.querySelector('[data-testid=config-rev]').textContent !== rev", arg=rev)
    recorded.wait_ready()
    assert not recorded.checked("learn_log_z") and not recorded.checked("noise_fit")
    assert float(recorded.value("ema_decay-input")) == 0.0
    assert float(recorded.value("noise_loc-input")) == 0.0


def test_a_frame_from_before_a_rebuild_is_not_drawn(module_server, recorded):
    recorded.open(module_server)
    recorded.set_knob("hidden-input", "24")  # a rebuild: frames of the earlier revision are stale
    rev = recorded.config_rev()
    wait_recorded_frame(recorded, rev)
    # the curve drawn is the last recorded frame's (not one of the revision before, still on screen)
    before = recorded.wait_trace("density-plot", "p-model-0", DRAWN_FROM_LAST_FRAME)
    page = recorded.page
    assert page.is_hidden('[data-testid="coverage-warning"]')
    flat = [-1.0] * len(before["y"])  # nothing like the model's curve
    page.evaluate(INJECT, {"top": {"config_rev": rev - 1}, "grid": {"log_p": flat}})
    # then a frame of this revision with no arrays and a coverage that warns: the warning shows after the
    # render pass that would also have drawn the stale curve
    page.evaluate(INJECT, {"top": {"config_rev": rev, "noise_coverage": 0.1, "grid": None, "points": None}})
    page.wait_for_selector('[data-testid="coverage-warning"]:not([hidden])', timeout=20_000)
    assert recorded.trace("density-plot", "p-model-0")["y"] == before["y"]


@pytest.mark.parametrize("coverage, warns", [(0.9, True), (0.97, False)])
def test_the_coverage_warning_starts_below_95_percent(module_server, recorded, coverage, warns):
    recorded.open(module_server)
    rev = recorded.config_rev()
    wait_recorded_frame(recorded, rev)
    page = recorded.page
    page.evaluate(INJECT, {"top": {"noise_coverage": 0.1, "grid": None, "points": None}})  # shows it
    page.wait_for_selector('[data-testid="coverage-warning"]:not([hidden])', timeout=20_000)
    page.evaluate(INJECT, {"top": {"noise_coverage": coverage, "grid": None, "points": None}})
    if warns:
        page.wait_for_function("() => /does not reach 10% of the data/.test("
                               "document.querySelector('[data-testid=coverage-warning]').textContent)", timeout=20_000)
        assert not page.is_hidden('[data-testid="coverage-warning"]')
    else:
        page.wait_for_selector('[data-testid="coverage-warning"]', state="hidden", timeout=20_000)
