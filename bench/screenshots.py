"""Regenerate the README's screenshots from the current page.

    python bench/screenshots.py            # writes docs/screenshot-1d.png, -2d.png, -experiments.png

Starts the app on a free loopback port (server/background.py), drives Debian's Chromium
(/usr/bin/chromium) through Playwright at 1280×800, and saves three views:
  docs/screenshot-1d.png           the default run (NCE on the 1-D bimodal preset), trained to its end
  docs/screenshot-2d.png           NCE on two moons, trained to its end, with noise samples shown
  docs/screenshot-experiments.png  the Experiments view after the default efficiency sweep (6 noises, 200 reps)
Each waits for a condition (the run says `done`, the sweep's progress reaches 100%), never a fixed sleep.
Takes about a minute on an idle 2-core machine.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.background import BackgroundServer  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 300_000  # training to the end shares two cores with whatever else runs


def open_run(context, base: str, hash_: str = ""):
    """A fresh page on this hash, the first-visit pointer dismissed, connected and paused at step 0."""
    page = context.new_page()
    page.goto(f"{base}/{hash_}")
    page.wait_for_selector('[data-testid="connection"][data-state="open"]')
    page.wait_for_function("() => document.querySelector('[data-testid=status]').textContent === 'paused'")
    if page.is_visible('[data-testid="start-here-close"]'):
        page.click('[data-testid="start-here-close"]')
    return page


def train_to_end(page):
    page.click('[data-testid="play"]')
    page.wait_for_function("() => document.querySelector('[data-testid=status]').textContent === 'done'")
    # the last frame's plots are drawn after the status changes: wait for two animation frames
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def shoot_1d(context, base: str, out: Path):
    page = open_run(context, base)
    train_to_end(page)
    page.screenshot(path=str(out))
    page.close()


def shoot_2d(context, base: str, out: Path):
    page = open_run(context, base, "#data=two_moons")
    noise_toggle = "#show-noise"
    if page.query_selector(noise_toggle) and not page.is_checked(noise_toggle):
        page.check(noise_toggle)
    train_to_end(page)
    page.screenshot(path=str(out))
    page.close()


def shoot_experiments(context, base: str, out: Path):
    page = open_run(context, base)
    page.click('[data-testid="experiments"]')
    page.wait_for_selector('[data-testid="experiment-plot"]', state="visible")
    page.select_option('[data-testid="experiment-select"]', "efficiency")
    page.click('[data-testid="experiment-run"]')
    page.wait_for_function(
        "() => document.querySelector('[data-testid=experiment-progress]').getAttribute('aria-valuenow') === '100'")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.screenshot(path=str(out))
    page.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1].strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the PNGs (default: docs/)")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).is_file():
        print(f"no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    server = BackgroundServer()
    base = server.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport=VIEWPORT)
            context.set_default_timeout(TIMEOUT_MS)
            for name, shoot in [("screenshot-1d.png", shoot_1d), ("screenshot-2d.png", shoot_2d),
                                ("screenshot-experiments.png", shoot_experiments)]:
                shoot(context, base, args.out / name)
                print(f"wrote {args.out / name}")
            browser.close()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
