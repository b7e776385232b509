"""REST routes through a real server: health, presets, schema, uploads, the token, security headers,
and no file of the server's readable from the web."""
from __future__ import annotations

import gzip

import httpx
import pytest

from models.config import RunConfig
from models.data import DATA_PRESETS
from models.noise import NOISE_FAMILIES
from models.methods import METHODS
from models.trainer import REBUILD_KNOBS
from server.assets import FRONTEND_DIR, plotly_bundle_gzipped, plotly_bundle_path
from server.security import CONTENT_SECURITY_POLICY

from .conftest import raw_get

EXPECTED_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def test_health(live_server):
    body = httpx.get(f"{live_server}/api/health").json()
    assert body["status"] == "ok" and body["device"] == "cpu" and body["version"]
    assert body["sessions"] == 0 and body["max_sessions"] == live_server.settings.max_sessions


def test_presets_list_every_registry_entry(live_server):
    body = httpx.get(f"{live_server}/api/presets").json()
    assert set(body["data"]) == set(DATA_PRESETS)
    assert body["data"]["eight_gaussians"]["dim"] == 2 and body["data"]["bimodal"]["dim"] == 1
    assert all(entry["description"] for entry in body["data"].values())
    assert set(body["noise"]) == set(NOISE_FAMILIES) and set(body["methods"]) == set(METHODS)
    assert set(body["models"]) == {"mlp", "gaussian"}


def test_schema_has_every_knob_with_bounds_and_the_live_rebuild_split(live_server):
    body = httpx.get(f"{live_server}/api/schema").json()
    knobs = body["knobs"]
    assert set(knobs) == set(RunConfig.model_fields)
    assert knobs["nr"]["minimum"] == 0.1 and knobs["nr"]["maximum"] == 1000 and knobs["nr"]["default"] == 10
    assert knobs["lr"]["exclusiveMinimum"] == 0 and "enum" in knobs["method"]
    assert set(body["live"]) | set(body["rebuild"]) == set(knobs)
    assert not set(body["live"]) & set(body["rebuild"])
    assert set(body["rebuild"]) == set(REBUILD_KNOBS) and "nr" in body["live"]


def test_plotly_is_served_from_the_installed_package(live_server):
    response = httpx.get(f"{live_server}/vendor/plotly.min.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert len(response.content) > 1_000_000 and b"plotly" in response.content[:2000].lower()


def test_the_plotly_bundle_and_the_json_go_out_gzipped(live_server):
    """A room of laptops on one Wi-Fi: the 4.8 MB bundle travels compressed, and decodes to the same bytes."""
    original = plotly_bundle_path().read_bytes()
    with httpx.stream("GET", f"{live_server}/vendor/plotly.min.js", headers={"Accept-Encoding": "gzip"}) as response:
        assert response.status_code == 200 and response.headers["content-encoding"] == "gzip"
        wire = b"".join(response.iter_raw())
    assert len(wire) < 0.4 * len(original)
    assert gzip.decompress(wire) == original
    schema = httpx.get(f"{live_server}/api/schema", headers={"Accept-Encoding": "gzip"})
    assert schema.headers["content-encoding"] == "gzip" and "knobs" in schema.json()
    plain = httpx.get(f"{live_server}/api/schema", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.json() == schema.json()


def test_the_plotly_bundle_is_compressed_once_and_revalidates_with_304(live_server):
    """A reload asks with the ETag it has and gets 304 and no body; without gzip it gets the plain file."""
    original = plotly_bundle_path().read_bytes()
    first = httpx.get(f"{live_server}/vendor/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    etag = first.headers["etag"]
    assert first.content == original and first.headers["cache-control"] == "no-cache"
    again = httpx.get(f"{live_server}/vendor/plotly.min.js", headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    stale = httpx.get(f"{live_server}/vendor/plotly.min.js", headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.content == original
    with httpx.stream("GET", f"{live_server}/vendor/plotly.min.js", headers={"Accept-Encoding": "identity"}) as plain:
        assert "content-encoding" not in plain.headers and b"".join(plain.iter_raw()) == original
    assert plotly_bundle_gzipped() is plotly_bundle_gzipped()  # one compression per process


@pytest.mark.parametrize("path", ["/api/health", "/api/schema", "/vendor/plotly.min.js", "/no/such/page",
                                  "/static/no-such-file.js", "/api/ws"])
def test_security_headers_on_every_response(live_server, path):
    response = httpx.get(f"{live_server}{path}")
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get(name) == value, (path, response.status_code, name)


def test_security_headers_on_errors_too(make_server):
    server = make_server(token="t0ken-16-characters", max_upload_bytes=1000)
    for response in (httpx.get(f"{server}/api/schema"),  # 401
                     httpx.post(f"{server}/api/upload?token=t0ken-16-characters", content="1\n" * 2000),  # 413
                     httpx.post(f"{server}/api/upload?token=t0ken-16-characters", content="a,b\n1,x\n")):  # 422
        assert response.status_code in (401, 413, 422)
        for name, value in EXPECTED_HEADERS.items():
            assert response.headers.get(name) == value


def test_the_page_and_its_static_files(live_server):
    if not (FRONTEND_DIR / "index.html").is_file():
        pytest.skip("frontend/index.html is not there yet")
    page = httpx.get(f"{live_server}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", [
    "/static/../server/app.py", "/static/..%2f..%2fserver%2fapp.py", "/static/%2e%2e/pyproject.toml",
    "/static/..%5cserver%5capp.py", "/static//etc/passwd", "/static/%2fetc%2fpasswd",
    "/static/../../../../etc/passwd", "/vendor/../server/settings.py",
])
def test_no_path_traversal_out_of_frontend(live_server, path):
    status, body, _headers = raw_get(live_server, path)
    assert status in (400, 404), (path, status)
    assert b"import" not in body and b"root:" not in body


def test_an_unknown_host_header_is_refused(live_server):
    status, body, headers = raw_get(live_server, "/api/health", {"Host": "attacker.example"})
    assert status == 400 and b"Host" in body
    assert headers["x-frame-options"] == "DENY"
    assert raw_get(live_server, "/api/health", {"Host": "localhost:1234"})[0] == 200


def test_token_guards_the_page_and_the_api_but_not_health(make_server):
    server = make_server(token="s3cret-16-chars!")
    assert httpx.get(f"{server}/api/health").status_code == 200
    for path in ("/api/schema", "/api/presets", "/"):
        refused = httpx.get(f"{server}{path}")
        assert refused.status_code == 401 and "token" in refused.json()["detail"]
        assert httpx.get(f"{server}{path}?token=wrong").status_code == 401
    assert httpx.get(f"{server}/api/schema?token=s3cret-16-chars!").status_code == 200
    assert httpx.get(f"{server}/api/presets", headers={"X-NCE-Token": "s3cret-16-chars!"}).status_code == 200
    assert httpx.post(f"{server}/api/upload", content="1\n" * 30).status_code == 401
    assert httpx.get(f"{server}/vendor/plotly.min.js").status_code == 200  # public assets


GOOD_2D = "x,y\n" + "\n".join(f"{i * 0.1:.3f},{(i * 7 % 13) * 0.5:.3f}" for i in range(40))


def test_upload_of_a_good_csv_returns_a_handle(live_server):
    response = httpx.post(f"{live_server}/api/upload", content=GOOD_2D, headers={"content-type": "text/csv"})
    assert response.status_code == 200
    body = response.json()
    assert body["rows"] == 40 and body["dim"] == 2
    assert body["handle"].startswith("upload:") and len(body["handle"]) == len("upload:") + 32
    again = httpx.post(f"{live_server}/api/upload", content=GOOD_2D).json()
    assert again["handle"] != body["handle"]


def test_upload_takes_any_line_ending(live_server):
    for ending in ("\r\n", "\r"):
        response = httpx.post(f"{live_server}/api/upload", content=GOOD_2D.replace("\n", ending))
        assert response.status_code == 200 and response.json()["rows"] == 40, (ending, response.text)


def test_upload_as_multipart_form_field_file(live_server):
    response = httpx.post(f"{live_server}/api/upload", files={"file": ("data.csv", GOOD_2D, "text/csv")})
    assert response.status_code == 200 and response.json()["rows"] == 40
    missing = httpx.post(f"{live_server}/api/upload", files={"other": ("data.csv", GOOD_2D, "text/csv")})
    assert missing.status_code == 422 and "'file'" in missing.json()["detail"]


@pytest.mark.parametrize("body, expected", [
    ("x\n1\n2\nabc\n" + "3\n" * 30, "line 4: 'abc' is not a number"),
    ("1,2\n3,4\n5\n" + "1,2\n" * 30, "line 3: 1 columns, expected 2"),
    ("1\n2\nnan\n" + "3\n" * 30, "line 3: NaN or infinite value"),
    ("1\n2\ninf\n" + "3\n" * 30, "line 3: NaN or infinite value"),
    ("1,2,3\n" * 30, "line 1: 3 columns; the data must have 1 or 2"),
    ("1\n2\n3\n", "only 3 data rows; at least 20"),
    ("", "only 0 data rows"),
    ("4\n" * 30, "no spread"),
    ("7" * 200_000, "line 1: unreadable CSV (field larger than field limit"),
    ("1\n" * 25 + "1e308\n", "line 26, column 1: '1e308' is beyond the scale limit |x| <= 1e15"),
    ("1\n2\n\"3\n" + "4\n" * 30, "line 3: a quoted cell runs from here to line 33 (an unclosed quote?)"),
])
def test_upload_of_a_bad_csv_is_a_422_naming_the_line(live_server, body, expected):
    response = httpx.post(f"{live_server}/api/upload", content=body)
    assert response.status_code == 422
    assert expected in response.json()["detail"]


def test_upload_caps_size_rows_and_encoding(make_server):
    server = make_server(max_upload_bytes=2000, max_upload_rows=30)
    too_big = httpx.post(f"{server}/api/upload", content="1.5\n" * 1000)
    assert too_big.status_code == 413 and "2000" in too_big.json()["detail"]
    chunked = httpx.post(f"{server}/api/upload", content=iter([b"1.5\n" * 400] * 3))  # no Content-Length
    assert chunked.status_code == 413
    too_long = httpx.post(f"{server}/api/upload", content="".join(f"{i}\n" for i in range(40)))
    assert too_long.status_code == 422 and "more than 30 rows" in too_long.json()["detail"]
    latin = httpx.post(f"{server}/api/upload", content=b"\xff\xfe1\n" * 25)
    assert latin.status_code == 422 and "UTF-8" in latin.json()["detail"]


@pytest.mark.parametrize("method, path, kwargs, expected", [
    ("post", "/api/upload", {"json": {"not": "csv"}}, 422),
    ("post", "/api/upload", {"content": b"\x00\x01\x02" * 50}, 422),
    ("post", "/api/upload", {"content": "x", "headers": {"content-type": "multipart/form-data"}}, 422),
    ("post", "/api/upload", {"content": "--b\r\n\r\n", "headers": {"content-type": "multipart/form-data; boundary=b"}}, 422),
    ("get", "/api/upload", {}, 405),
    ("post", "/api/schema", {"json": {}}, 405),
    ("delete", "/api/health", {}, 405),
])
def test_bad_requests_are_4xx_never_5xx(live_server, method, path, kwargs, expected):
    response = getattr(httpx, method)(f"{live_server}{path}", **kwargs)
    assert response.status_code == expected, response.text
    assert "detail" in response.json()
