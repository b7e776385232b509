"""Exports carry no access token (issue 17): a page opened with ?token=... exports a JSON document, a
sweep's JSON and an HTML report whose links hold no token; the report says to ask the instructor."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(150)

TOKEN = "student-token-Zq9xW2pL7vRk"


def _download(page, click) -> str:
    with page.expect_download() as info:
        click()
    return Path(info.value.path()).read_text()


def test_exports_of_a_page_opened_with_a_token_hold_no_token(make_server, driver, tmp_path):
    """Was: the report's "reopen live" link and the JSON export's `link` were the page's address, token
    and all: a report mailed or posted on a course page handed out the key to the server."""
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(f"{TOKEN}\n")
    server = make_server(student_tokens=str(tokens))
    page = driver.page
    page.goto(f"{server}/?token={TOKEN}#grid=32&hidden=16&nr=5")
    driver.wait_ready()

    document = json.loads(driver.download("export"))
    assert TOKEN not in json.dumps(document) and "token=" not in json.dumps(document)
    link = document["link"]
    assert link.startswith(f"{server}/#") and {"grid=32", "hidden=16", "nr=5"} <= set(link.split("#")[1].split("&"))
    assert "ask your instructor for the link" in document["link_note"]

    report = _download(page, lambda: driver.click("export-report"))
    assert TOKEN not in report and "token=" not in report
    assert f'href="{link.replace("&", "&amp;")}"' in report  # the configuration is kept
    assert "ask your instructor for the link" in report

    # a sweep's JSON, through the function the Experiments view's button calls
    sweep = _download(page, lambda: page.evaluate("""async () => {
        const m = await import('/static/js/export.js');
        m.exportSweepJSON({ experiment: 'efficiency', config: {}, models: 0, points: [], theory: null }, location.href);
    }"""))
    assert TOKEN not in sweep and "token=" not in sweep and "ask your instructor" in sweep

    # the link function itself: a token-free link goes out as it is; a token goes however it is spelled
    plain, spelled, missing = page.evaluate("""async () => {
        const { exportLink } = await import('/static/js/export.js');
        const plain = `${location.origin}${location.pathname}${location.hash}`;
        return [[plain, exportLink(plain)], exportLink('http://lab:8000/?a=1&tok%65n=SECRET-1234567890#nr=5'),
                exportLink(null)];
    }""")
    assert plain[1] == {"link": plain[0], "tokenRemoved": False}
    assert spelled == {"link": "http://lab:8000/?a=1#nr=5", "tokenRemoved": True}
    assert missing == {"link": None, "tokenRemoved": False}
