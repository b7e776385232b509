"""Data in the page: CSV upload (file picker and drag and drop, good and bad), the 2-D view, compare mode.

The tests take turns on one page (conftest.SharedDriver): each opens its config as a link would. Their order
matters: the 2-D view follows a 1-D test, so the maps it counts are its own."""
from __future__ import annotations

import random

import pytest

pytestmark = pytest.mark.timeout(120)


def _csv(rows: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "value\n" + "".join(f"{rng.gauss(1.0, 0.7):.4f}\n" for _ in range(rows))


def _wait_density_1d(page):
    """Wait until the density panel shows the restarted 1-D run, not the maps of an earlier test's 2-D data."""
    page.wait_for_function("() => !(document.querySelector('[data-testid=density-plot]').data || [])"
                           ".some(d => d.type === 'heatmap')")


def test_upload_a_good_csv_then_a_bad_one(module_server, shared, tmp_path):
    page = shared.open(module_server).page
    good = tmp_path / "good.csv"
    good.write_text(_csv(300))
    page.set_input_files('[data-testid="upload"]', str(good))
    shared.wait_text("upload-info", "300 rows, 1-D")
    page.wait_for_function("() => document.querySelector('[data-testid=data]').value === 'custom'")
    shared.wait_text("density-note", "kernel density")
    assert "data=custom" in page.evaluate("location.hash")
    assert page.is_hidden('[data-testid="upload-error"]')

    page.allowed_errors.append(r"status of 422")  # the browser logs the refused upload's HTTP status
    bad = tmp_path / "bad.csv"
    bad.write_text("x\n1\n2\nabc\n")
    page.set_input_files('[data-testid="upload"]', str(bad))
    error = shared.wait_text("upload-error", "not accepted")
    assert "line 4" in error and "abc" in error  # the server's own words, naming the line
    assert "line 4" in shared.wait_message("not accepted")  # and a message, in case the sidebar is scrolled
    assert shared.value("data") == "custom"  # the page kept the data it had
    shared.shot("upload-error")


def test_the_2d_view_shows_model_and_data_maps(module_server, shared):
    page = shared.open(module_server, data="eight_gaussians").page
    shared.click("play")
    shared.wait_steps_above(20)
    page.wait_for_function("() => document.querySelector('[data-testid=density-plot]').data"
                           ".some(d => d.type === 'heatmap')")  # drawn (the shared page showed 1-D data before)
    maps = [t for t in shared.traces("density-plot") if t["type"] == "heatmap"]
    assert len(maps) == 2  # p_θ beside p_d
    page.check("#show-noise")
    page.wait_for_function("() => document.querySelector('[data-testid=density-plot]').data"
                           ".some(d => d.name === 'noise samples')")
    page.uncheck("#show-data")
    page.wait_for_function("() => !document.querySelector('[data-testid=density-plot]').data"
                           ".some(d => d.name === 'data samples')")
    page.locator('[data-testid="weight-plot"]').scroll_into_view_if_needed()  # panels off screen wait to be seen
    shared.wait_trace("weight-plot", "map")
    shared.shot("2d-eight-gaussians")
    page.uncheck("#show-noise")  # as a person would: the hash restart keeps the page's view options
    page.check("#show-data")
    shared.scroll_to_top()


def test_compare_mode_runs_two_methods_side_by_side(module_server, shared):
    page = shared.open(module_server).page
    _wait_density_1d(page)  # so the side-by-side axes checked below are compare's
    shared.click("compare")
    page.wait_for_selector('[data-testid="compare-bar"]:not([hidden])')
    page.wait_for_function("() => document.querySelectorAll('[data-testid=compare-table] tbody tr').length === 2")
    assert page.is_disabled('[data-testid="method"]')
    assert "compare=mle%2Cnce" in page.evaluate("location.hash") or "compare=mle,nce" in page.evaluate("location.hash")
    shared.click("play")
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid=compare-table] tbody tr')]
        .every(tr => Number(tr.children[1].textContent) > 10)""")
    page.wait_for_function("() => document.querySelector('[data-testid=loss-plot]').data"
                           ".filter(d => d.uid && d.uid.endsWith('-avg')).length === 2")
    names = [t["name"] for t in shared.traces("z-plot")]
    assert any(n.startswith("MLE") for n in names) and any(n.startswith("NCE") for n in names)
    axes = {t["xaxis"] for t in shared.traces("density-plot")}
    assert {"x", "x2"} <= axes  # the densities side by side
    shared.shot("compare-mle-nce")
    # a third method joins; turning compare off leaves one run
    page.check('[data-testid="compare-infonce"]')
    page.wait_for_function("() => document.querySelectorAll('[data-testid=compare-table] tbody tr').length === 3")
    shared.click("compare")
    page.wait_for_selector('[data-testid="compare-bar"]', state="hidden")
    assert page.is_enabled('[data-testid="method"]')


def test_drop_a_csv_on_the_drop_zone(module_server, shared):
    page = shared.open(module_server).page
    _wait_density_1d(page)  # so the maps waited for below are the dropped data's
    text = "x,y\n" + "".join(f"{i % 7 * 0.3:.2f},{i % 5 * 0.4:.2f}\n" for i in range(60))
    page.evaluate("""text => {
        const data = new DataTransfer();
        data.items.add(new File([text], 'pairs.csv', {type: 'text/csv'}));
        const zone = document.querySelector('[data-testid=dropzone]');
        zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: data, bubbles: true, cancelable: true}));
        zone.dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));
    }""", text)
    shared.wait_text("upload-info", "60 rows, 2-D")
    shared.wait_trace("density-plot", "map-0")  # a 2-D upload switches the density panel to maps
