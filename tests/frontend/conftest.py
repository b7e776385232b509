"""Browser fixtures: Debian's Chromium driven by Playwright (sync API), one page per test at 1280x800.

Every test's page is watched: console errors, uncaught page errors and Content-Security-Policy
violations fail the test at teardown (a test that provokes an error on purpose lists it in
`page.allowed_errors`). Screenshots go to test-artifacts/ (gitignored; each test writes its own names,
so xdist workers never write the same file).

A page load costs seconds of CPU (most of it evaluating the 4.8 MB Plotly bundle), so tests that only
read one state, or that begin with an action which resets the state they check (a lesson's pick),
share one page: a module- or session-scoped fixture opens it, and `watched_test` still fails each test
on the errors that appear during it. Each xdist worker opens its own, on its own server and free port.

No Chromium at /usr/bin/chromium: the browser tests are skipped, except under CI=true, where they fail.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from typing import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 20_000  # generous: the server trains on the same two cores that render the page

# Small, quick runs: a coarse grid, a small network and batch, and enough steps to keep running.
SMALL = {"grid": 32, "hidden": 16, "batch_size": 64, "steps": 200000}

# Records CSP violations (Chromium also logs them as console errors; this catches them either way).
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e => {
  window.__cspViolations.push(`${e.violatedDirective}: ${e.blockedURI}`);
});
"""


def _missing(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _missing(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright Python package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def watched_context(browser, viewport: dict = VIEWPORT):
    """A new browser context whose pages are watched: console errors and uncaught page errors go to
    `context.problems`, CSP violations to each page's `window.__cspViolations`."""
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    context.problems = []
    context.allowed_errors = []
    context.on("console", lambda msg: context.problems.append(f"console.error: {msg.text}") if msg.type == "error" else None)
    context.on("weberror", lambda error: context.problems.append(f"page error: {error.error}"))
    context.add_init_script(CSP_WATCH)
    return context


def csp_violations(context, since: dict | None = None) -> list:
    """Every CSP violation recorded by the context's open pages (after the first since[page] of a page)."""
    violations = []
    for page, seen in page_violations(context).items():
        violations += seen[(since or {}).get(page, 0):]
    return violations


def page_violations(context) -> dict:
    """{page: its CSP violations} for the context's open pages."""
    found = {}
    for page in context.pages:
        if not page.is_closed():
            try:
                found[page] = page.evaluate("window.__cspViolations || []")
            except Exception:  # a page that is navigating away
                pass
    return found


def assert_clean(context, violations: list, problems: list) -> None:
    """No CSP violation and no browser error other than the ones the test allowed."""
    unexpected = [p for p in problems if not any(re.search(a, p) for a in context.allowed_errors)]
    assert not violations, f"CSP violations: {violations}"
    assert not unexpected, "errors in the browser:\n" + "\n".join(unexpected)


@pytest.fixture
def context(browser):
    context = watched_context(browser)
    yield context
    violations = csp_violations(context)
    context.close()
    assert_clean(context, violations, context.problems)


@contextmanager
def default_server():
    """A server with default settings for the life of a shared page (the live_server fixture is per test)."""
    from server.background import BackgroundServer

    background = BackgroundServer()
    try:
        yield background.start()
    finally:
        background.stop()


@pytest.fixture(scope="module")
def module_server():
    """A server with default settings shared by one module's tests: for tests that share one page."""
    with default_server() as url:
        yield url


@contextmanager
def watched_test(context):
    """One test on a context that outlives it: fails the test on the browser errors and CSP violations
    that appeared during it (not those of earlier tests); then closes the pages it opened and forgets
    the errors it allowed."""
    before = set(context.pages)
    seen_problems = len(context.problems)
    seen_violations = {page: len(found) for page, found in page_violations(context).items()}
    try:
        yield
        assert_clean(context, csp_violations(context, seen_violations), context.problems[seen_problems:])
    finally:
        context.allowed_errors.clear()
        for page in context.pages:
            if page not in before:
                page.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.allowed_errors = context.allowed_errors  # a test appends regexes for errors it provokes
    return page


# ---------------------------------------------------------------------------- the page driver

def hash_of(**knobs) -> str:
    return "#" + urlencode({k: (str(v).lower() if isinstance(v, bool) else v) for k, v in knobs.items()})


class Driver:
    """The page under test, with the waits and reads the tests share (all waits are conditions)."""

    def __init__(self, page):
        self.page = page

    def open(self, base: str, small: bool = True, **knobs):
        """Open the page with these knobs (plus SMALL) in the hash; wait until the run holds at step 0."""
        self.page.goto(f"{base}/{hash_of(**{**(SMALL if small else {}), **knobs})}")
        self.wait_ready()
        return self

    def wait_ready(self):
        self.page.wait_for_selector('[data-testid="connection"][data-state="open"]')
        self.wait_state("paused")
        self.page.wait_for_function("() => document.querySelector('[data-testid=density-plot] .main-svg, "
                                    "[data-testid=mi-plot] .main-svg') !== null")

    def wait_state(self, state: str):
        self.page.wait_for_function("s => document.querySelector('[data-testid=status]').textContent === s", arg=state)

    def click(self, testid: str):
        self.page.click(f'[data-testid="{testid}"]')

    def text(self, testid: str) -> str:
        return self.page.text_content(f'[data-testid="{testid}"]')

    def value(self, testid: str) -> str:
        return self.page.input_value(f'[data-testid="{testid}"]')

    def checked(self, testid: str) -> bool:
        return self.page.is_checked(f'[data-testid="{testid}"]')

    def step_count(self) -> int:
        return int(self.text("step-count"))

    def config_rev(self) -> int:
        return int(self.text("config-rev"))

    def wait_steps_above(self, n: int):
        self.page.wait_for_function("n => Number(document.querySelector('[data-testid=step-count]').textContent) > n", arg=n)

    def wait_rev_above(self, n: int):
        self.page.wait_for_function("n => Number(document.querySelector('[data-testid=config-rev]').textContent) > n", arg=n)

    def set_knob(self, testid: str, value: str, accepted: bool = True):
        """Pick an option or type a value (then Enter), as a person would; waits for the server's
        `config` reply (the revision goes up) unless the change is meant to be refused."""
        rev = self.config_rev()
        selector = f'[data-testid="{testid}"]'
        if self.page.eval_on_selector(selector, "el => el.tagName") == "SELECT":
            self.page.select_option(selector, value)
        else:
            self.page.fill(selector, value)
            self.page.press(selector, "Enter")
        if accepted:
            self.wait_rev_above(rev)

    def wait_message(self, pattern: str):
        """Wait for a message in the page matching a regex (case-insensitive); returns all messages."""
        self.page.wait_for_function(
            "re => new RegExp(re, 'i').test(document.querySelector('[data-testid=message]').innerText)", arg=pattern)
        return self.messages()

    def messages(self) -> str:
        return self.page.inner_text('[data-testid="message"]')

    def trace(self, testid: str, uid: str):
        """A drawn Plotly trace (x, y, z, name) by its uid, or None."""
        return self.page.evaluate(
            """([testid, uid]) => {
                 const gd = document.querySelector(`[data-testid="${testid}"]`);
                 const t = gd && gd.data ? gd.data.find(d => d.uid === uid) : null;
                 return t ? JSON.parse(JSON.stringify({x: t.x, y: t.y, z: t.z, name: t.name})) : null;
               }""", [testid, uid])

    def wait_trace(self, testid: str, uid: str, condition: str = "true", arg=None):
        """Wait until trace `uid` is drawn and `condition` holds: a JS expression of the trace `t` and
        `arg` (written as a function: the page's CSP forbids evaluating strings)."""
        self.page.wait_for_function(
            f"""([testid, uid, arg]) => {{
                 const gd = document.querySelector(`[data-testid="${{testid}}"]`);
                 const t = gd && gd.data ? gd.data.find(d => d.uid === uid) : null;
                 return Boolean(t) && ({condition});
               }}""", arg=[testid, uid, arg])
        return self.trace(testid, uid)

    def wait_text(self, testid: str, pattern: str):
        """Wait until the element's text matches a regex (case-insensitive)."""
        self.page.wait_for_function(
            "([id, re]) => { const el = document.querySelector(`[data-testid=\"${id}\"]`);"
            " return Boolean(el) && new RegExp(re, 'i').test(el.textContent); }", arg=[testid, pattern])
        return self.text(testid)

    def traces(self, testid: str) -> list:
        return self.page.evaluate(
            """testid => {
                 const gd = document.querySelector(`[data-testid="${testid}"]`);
                 return gd && gd.data ? gd.data.map(d => ({uid: d.uid || null, name: d.name || null, type: d.type,
                                                            xaxis: d.xaxis || 'x'})) : [];
               }""", testid)

    def plot_boxes(self, testid: str) -> dict:
        """Where a plot's text sits on screen (left, top, right, bottom): its whole figure, its axis titles
        (absent ones are None) and its annotations (with their text), to check that nothing overlaps or is cut."""
        return self.page.evaluate(
            """testid => {
                 const gd = document.querySelector(`[data-testid="${testid}"]`);
                 const box = el => { if (!el) return null; const r = el.getBoundingClientRect();
                                     return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
                 return {figure: box(gd.querySelector('.main-svg')), x: box(gd.querySelector('.g-xtitle text')),
                         y: box(gd.querySelector('.g-ytitle text')), y2: box(gd.querySelector('.g-y2title text')),
                         annotations: [...gd.querySelectorAll('.annotation')].map(a => ({...box(a), text: a.textContent}))};
               }""", testid)

    def shot(self, name: str):
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def download(self, testid: str) -> str:
        with self.page.expect_download() as info:
            self.click(testid)
        return Path(info.value.path()).read_text()


def apart(a: dict, b: dict) -> bool:
    """Two screen boxes do not overlap."""
    return a["right"] <= b["left"] or b["right"] <= a["left"] or a["bottom"] <= b["top"] or b["bottom"] <= a["top"]


def inside(inner: dict, outer: dict, slack: float = 1.0) -> bool:
    """A screen box lies within another (not cut off by its edges)."""
    return (inner["left"] >= outer["left"] - slack and inner["right"] <= outer["right"] + slack
            and inner["top"] >= outer["top"] - slack and inner["bottom"] <= outer["bottom"] + slack)


@pytest.fixture
def driver(page) -> Driver:
    return Driver(page)


class SharedDriver(Driver):
    """A page that several tests use in turn (a page load costs seconds of CPU, mostly Plotly's
    evaluation). `open` on the server the page already shows does what a pasted link does: it puts the
    hash in the address bar, and the page restarts from it (new config, step 0, paused) without a reload.
    Then it dismisses the messages an earlier test left. What else a test changes (large text, presenter
    mode, a compare bar, a dismissed hint, the scroll) is the test's to undo, or the test keeps a page
    of its own."""

    def open(self, base: str, small: bool = True, **knobs):
        if not self.page.url.startswith(f"{base}/"):
            return super().open(base, small, **knobs)
        rev = self.text("config-rev")
        self.paste_hash(hash_of(**{**(SMALL if small else {}), **knobs}))
        self.page.wait_for_function(
            """rev => document.querySelector('[data-testid=config-rev]').textContent !== rev
                      && document.querySelector('[data-testid=status]').textContent === 'paused'
                      && document.querySelector('[data-testid=step-count]').textContent === '0'""", arg=rev)
        self.wait_ready()
        self.dismiss_messages()
        return self

    def paste_hash(self, hash_: str):
        """The hash in the address bar, then one hashchange: what a pasted link does (replaceState first, so
        a hash equal to the current one still counts)."""
        self.page.evaluate("h => { history.replaceState(null, '', h); window.dispatchEvent(new HashChangeEvent('hashchange')); }",
                           hash_)

    def wait_curve_restarted(self, testid: str, uid: str):
        """Wait until the plot shows the restarted run (at most its step-0 point), not the curve of the
        earlier test's run."""
        self.page.wait_for_function("""([testid, uid]) => {
            const t = (document.querySelector(`[data-testid="${testid}"]`).data || []).find(d => d.uid === uid);
            return !t || t.x.length <= 1; }""", arg=[testid, uid])

    def scroll_to_top(self):
        """Scroll the plots back to the top, as a person would: the hash restart keeps the scroll."""
        self.page.evaluate("() => { document.querySelector('main').scrollTop = 0; }")

    def close_lesson(self):
        """Close the lesson card (the hash restart keeps it and its highlighted panel), as a person would."""
        self.page.click("#lesson-close")
        self.page.wait_for_selector('[data-testid="lesson-card"]', state="hidden")

    def dismiss_messages(self):
        """Click every message's close button, as a person clearing the page would."""
        self.page.evaluate("""() => document.querySelectorAll('[data-testid=message] button[aria-label="Dismiss this message"]')
                                    .forEach(b => b.click())""")
        self.page.wait_for_function("() => document.querySelector('[data-testid=message]').children.length === 0")


@pytest.fixture(scope="module")
def shared_page(browser, module_server) -> Iterator[SharedDriver]:
    """One watched page for a module's tests, on the module's server (see SharedDriver)."""
    context = watched_context(browser)
    page = context.new_page()
    page.allowed_errors = context.allowed_errors  # as the page fixture's (watched_test clears it after each test)
    yield SharedDriver(page)
    context.close()


@pytest.fixture
def shared(shared_page) -> Iterator[SharedDriver]:
    """The module's shared page for one test: it fails on the browser errors that appear during it.
    Use with `module_server`: `shared.open(module_server, nr=10)`."""
    with watched_test(shared_page.page.context):
        yield shared_page
