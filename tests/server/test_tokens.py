"""Per-student links (issue 17): `nce-playground tokens`, NCE_STUDENT_TOKENS, each token's own session
quota and upload store, start-up refusals of short or broken tokens, the throttle on wrong guesses, and
/static/index.html behind the token like /."""
from __future__ import annotations

import os
import re
import stat

import httpx
import pytest
import torch
from pydantic import ValidationError

from server.security import exposure_warnings
from server.settings import Settings
from server.tokens import MIN_TOKEN_CHARS, GuessThrottle, TokenGate
from server.uploads import UploadStore

from .conftest import raw_get, wait_until

pytestmark = pytest.mark.timeout(120)

INSTRUCTOR = "instructor-token-0123456789"
URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")
CSV = "\n".join(str(i % 7) for i in range(40))


@pytest.fixture
def token_file(tmp_path):
    """token_file(n) -> (path, tokens): n fresh tokens written as `nce-playground tokens` writes them."""
    from server.tokens import new_tokens, write_token_file

    def make(count: int = 2):
        path = tmp_path / f"tokens-{count}.txt"
        tokens = new_tokens(count)
        write_token_file(path, tokens)
        return str(path), tokens
    return make


def _ping(client) -> None:
    """The session is open: it answers a ping."""
    client.send({"type": "ping"})
    client.wait_type("pong", timeout=10)


# ------------------------------------------------------------------ nce-playground tokens
def test_tokens_command_writes_fresh_tokens_0600_and_prints_one_link_each(tmp_path, capsys):
    from server.cli import main

    out = tmp_path / "room.txt"
    assert main(["tokens", "--count", "5", "--out", str(out), "--url", "http://lab.example:8000/"]) == 0
    printed = capsys.readouterr()
    tokens = out.read_text().splitlines()
    assert len(tokens) == 5 and len(set(tokens)) == 5
    assert all(len(t) >= MIN_TOKEN_CHARS and URL_SAFE.fullmatch(t) for t in tokens), tokens
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert printed.out.splitlines() == [f"http://lab.example:8000/?token={t}" for t in tokens]
    assert f"NCE_STUDENT_TOKENS={out}" in printed.err
    # a second file holds other tokens; the default URL is a placeholder the message points at
    assert main(["tokens", "--count", "2", "--out", str(tmp_path / "b.txt")]) == 0
    again = capsys.readouterr()
    assert not set((tmp_path / "b.txt").read_text().splitlines()) & set(tokens)
    assert again.out.startswith("http://HOST:8000/?token=") and "HOST" in again.err
    # the file works as NCE_STUDENT_TOKENS
    assert Settings(student_tokens=str(out)).student_tokens == str(out)


@pytest.mark.parametrize("count", ["0", "-3", "many", "2.5", "10001"])
def test_tokens_command_refuses_a_bad_count_by_name(tmp_path, capsys, count):
    from server.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["tokens", "--count", count, "--out", str(tmp_path / "t.txt")])
    assert exited.value.code == 2
    assert "--count" in capsys.readouterr().err and not (tmp_path / "t.txt").exists()


def test_tokens_command_refuses_an_existing_file_and_a_bad_url(tmp_path, capsys):
    from server.cli import main

    existing = tmp_path / "handed-out.txt"
    existing.write_text("keep me\n")
    assert main(["tokens", "--count", "3", "--out", str(existing)]) == 2
    assert "--out" in capsys.readouterr().err and existing.read_text() == "keep me\n"
    assert main(["tokens", "--count", "3", "--out", str(tmp_path / "new.txt"), "--url", "lab:8000"]) == 2
    assert "--url" in capsys.readouterr().err and not (tmp_path / "new.txt").exists()


# ------------------------------------------------------------------ start-up refusals
@pytest.mark.parametrize("text, expected", [
    (None, "cannot read"),
    ("", "holds no token"),
    ("# only a comment\n\n", "holds no token"),
    ("aaaaaaaaaaaaaaaaaaaa\nbbbbbbbbbbbbbbbbbbbb\naaaaaaaaaaaaaaaaaaaa\n", "line 3: the same token as line 1"),
    ("aaaaaaaaaaaaaaaaaaaa\n\nshort-1234\n", "line 3: the token is 10 characters; each needs at least 16"),
    ("aaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbb\n", "line 1: one token per line"),
])
def test_a_broken_student_token_file_is_refused_at_start_up(tmp_path, text, expected):
    path = tmp_path / "tokens.txt"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ValidationError) as refused:
        Settings(student_tokens=str(path))
    assert "NCE_STUDENT_TOKENS" in str(refused.value) and expected in str(refused.value)


def test_serve_refuses_short_tokens_before_listening(tmp_path, capsys, monkeypatch):
    """`nce-playground serve` stops with exit code 2 and a line naming the setting, the line and the bound."""
    from server.cli import main

    monkeypatch.setenv("NCE_PORT", "1")  # never bound: the settings are refused first
    monkeypatch.setenv("NCE_TOKEN", "1234")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "NCE_TOKEN" in err and "4 characters" in err and "at least 16" in err
    monkeypatch.setenv("NCE_TOKEN", INSTRUCTOR)
    (tmp_path / "t.txt").write_text(f"{'x' * 20}\n{INSTRUCTOR}\n")
    monkeypatch.setenv("NCE_STUDENT_TOKENS", str(tmp_path / "t.txt"))
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "NCE_STUDENT_TOKENS" in err and "line 2: the same token as NCE_TOKEN" in err
    assert Settings(token="x" * 16).token == "x" * 16  # the bound itself is fine


def test_student_tokens_alone_guard_a_public_bind(token_file):
    path, _tokens = token_file(3)
    assert exposure_warnings(Settings(host="0.0.0.0", student_tokens=path, allowed_hosts=["lab.example"])) == []
    assert len(exposure_warnings(Settings(host="0.0.0.0", allowed_hosts=["lab.example"]))) == 1  # no token at all


# ------------------------------------------------------------------ accepted like NCE_TOKEN
def test_student_tokens_open_the_page_the_api_and_the_socket(make_server, client_for, token_file):
    path, (alice, bob) = token_file(2)
    server = make_server(token=INSTRUCTOR, student_tokens=path)
    for token in (alice, bob, INSTRUCTOR):
        assert httpx.get(f"{server}/api/schema?token={token}").status_code == 200
        assert httpx.get(f"{server}/api/presets", headers={"X-NCE-Token": token}).status_code == 200
        _ping(client_for(server, f"?token={token}"))
    assert httpx.get(f"{server}/api/schema?token={alice[:-1]}").status_code == 401
    code, reason = client_for(server, f"?token={alice}x").close_code()
    assert code == 4401 and "token" in reason
    # without NCE_TOKEN the student tokens alone guard the server
    students_only = make_server(student_tokens=path)
    assert httpx.get(f"{students_only}/api/schema").status_code == 401
    assert httpx.get(f"{students_only}/api/schema?token={bob}").status_code == 200


def test_static_index_html_needs_the_token_like_the_page(make_server, token_file):
    """Was: /static/index.html skipped the token check that / has."""
    path, (alice,) = token_file(1)
    server = make_server(token=INSTRUCTOR, student_tokens=path)
    spellings = ("/static/index.html", "/static/./index.html", "/static//index.html", "/static/%69ndex.html",
                 "/static/js/../index.html", "/static/index.html/")
    for spelling in spellings:
        status, _body, headers = raw_get(server, spelling)
        assert status == 401, (spelling, status)
        assert headers["x-frame-options"] == "DENY"
    for token in (INSTRUCTOR, alice):
        status, body, _headers = raw_get(server, f"/static/index.html?token={token}")
        assert status == 200 and b"<html" in body.lower()
    assert httpx.head(f"{server}/static/index.html").status_code == 401
    assert httpx.get(f"{server}/static/js/main.js").status_code == 200  # the page loads these without its query
    assert httpx.get(f"{server}/").status_code == 401


# ------------------------------------------------------------------ a session quota per token
def test_each_token_has_its_own_session_quota(make_server, client_for, token_file):
    """Was: one client's 40 idle sockets filled the room. A 5th socket of one student is refused (1013,
    naming the quota) while another student and the instructor still open theirs."""
    path, (alice, bob) = token_file(2)
    server = make_server(token=INSTRUCTOR, student_tokens=path, max_sessions=12)
    assert server.settings.sessions_per_token == 4  # a page: Compare of 3 runs and a sweep
    hub = server.app.state.hub
    pages = [client_for(server, f"?token={alice}") for _ in range(4)]
    for client in pages:
        _ping(client)
    code, reason = client_for(server, f"?token={alice}").close_code()
    assert code == 1013 and "NCE_SESSIONS_PER_TOKEN=4" in reason
    _ping(client_for(server, f"?token={bob}"))
    for _ in range(5):  # the instructor: only max_sessions
        _ping(client_for(server, f"?token={INSTRUCTOR}"))
    assert hub.active == 10
    # a closed session gives its place back to its own token
    pages[0].close()
    wait_until(lambda: hub.sessions_of["student-1"] == 3, 10, "alice's closed session to end")
    _ping(client_for(server, f"?token={alice}"))


def test_without_tokens_nothing_changes(make_server, client_for):
    server = make_server(max_sessions=6)
    clients = [client_for(server) for _ in range(6)]  # more than sessions_per_token: local use has no quota
    for client in clients:
        _ping(client)
    code, reason = client_for(server).close_code()
    assert code == 1013 and "6 sessions are open" in reason


# ------------------------------------------------------------------ an upload store per token
def _upload(server, token: str) -> str:
    response = httpx.post(f"{server}/api/upload?token={token}", content=CSV)
    assert response.status_code == 200, response.text
    return response.json()["handle"]


def _start_custom(client, handle: str) -> dict:
    client.send({"type": "start", "config": {"data": "custom", "data_file": handle, "grid": 32, "batch_size": 32},
                 "paused": True})
    return client.wait_for(lambda m: m["type"] in ("config", "error"), 30, "start reply")


def test_each_token_has_its_own_uploads(make_server, client_for, token_file):
    """Was: one store for all, the oldest of anyone's dropped first: 64 tiny uploads evicted every other
    student's data. Now a handle is its token's only, and a student's uploads evict only their own."""
    path, (alice, bob) = token_file(2)
    server = make_server(token=INSTRUCTOR, student_tokens=path, uploads_per_token=3, max_uploads=64)
    bobs = _upload(server, bob)
    alices = [_upload(server, alice) for _ in range(20)]
    store = server.app.state.hub.uploads
    assert store.count("student-1") == 3 and store.count("student-2") == 1
    alice_socket, bob_socket = client_for(server, f"?token={alice}"), client_for(server, f"?token={bob}")
    assert _start_custom(bob_socket, bobs)["type"] == "config"  # not evicted by Alice's 20
    refused = _start_custom(alice_socket, bobs)  # Bob's handle, Alice's token
    assert refused["type"] == "error" and "unknown upload handle" in refused["message"]
    assert _start_custom(alice_socket, alices[0])["type"] == "error"  # her oldest: dropped for her newest
    assert _start_custom(alice_socket, alices[-1])["type"] == "config"
    assert _start_custom(client_for(server, f"?token={INSTRUCTOR}"), alices[-1])["type"] == "error"


def test_the_global_cap_drops_from_whoever_holds_most():
    """max_uploads stays the total: past it, the oldest upload of the owner holding the most goes."""
    store, samples = UploadStore(capacity=4), torch.zeros(20, 1)
    quiet = store.add(samples, "bob", limit=3)
    busy = [store.add(samples, "alice", limit=3) for _ in range(3)]
    carol = [store.add(samples, "carol", limit=3) for _ in range(2)]
    # Carol's 1st (5 > 4): Alice holds most, her oldest goes; Carol's 2nd: Alice and Carol hold 2 each,
    # and a tie costs the one who adds
    assert store.get(quiet, "bob") is not None and store.get(quiet, "alice") is None
    assert [store.get(h, "alice") is not None for h in busy] == [False, True, True]
    assert [store.get(h, "carol") is not None for h in carol] == [False, True] and len(store._items) == 4
    # one owner alone (no tokens): the oldest first, as before
    local = UploadStore(capacity=2)
    first, second, third = (local.add(samples) for _ in range(3))
    assert local.get(first) is None and local.get(second) is not None and local.get(third) is not None


# ------------------------------------------------------------------ wrong guesses
class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_throttle_blocks_after_five_failures_for_a_growing_time():
    clock = FakeClock()
    throttle = GuessThrottle(allowed=5, window_s=60, first_block_s=10, max_block_s=900, clock=clock)
    assert [throttle.failed("10.0.0.9") for _ in range(4)] == [None] * 4
    assert throttle.retry_after("10.0.0.9") is None
    assert throttle.failed("10.0.0.9") == 10 and throttle.retry_after("10.0.0.9") == 10
    assert throttle.retry_after("10.0.0.8") is None  # another address
    clock.now += 10
    assert throttle.retry_after("10.0.0.9") is None
    blocks = []
    for _ in range(7):  # each block twice the one before, up to max_block_s
        blocks.append([throttle.failed("10.0.0.9") for _ in range(5)][-1])
        clock.now += blocks[-1]
    assert blocks == [20, 40, 80, 160, 320, 640, 900]
    clock.now += 901  # quiet for max_block_s: forgiven
    assert [throttle.failed("10.0.0.9") for _ in range(5)][-1] == 10
    # failures spread wider than the window never add up to a block
    clock.now += 100
    for _ in range(10):
        assert throttle.failed("10.0.0.7") is None
        clock.now += 16


def test_token_comparison_looks_at_every_token():
    gate = TokenGate("i" * 20, ["a" * 20, "b" * 20])
    assert gate.holder_of("b" * 20).key == "student-2" and gate.holder_of("i" * 20).key == "instructor"
    assert gate.holder_of("a" * 19) is None and gate.holder_of("") is None
    assert TokenGate().holder_of("").key == "local"


def test_wrong_guesses_are_throttled_per_address(make_server, client_for, token_file):
    """Was: a 4-digit NCE_TOKEN guessed in 6.3 s, unthrottled. After 5 wrong tokens an address gets 429
    with Retry-After (its right token too, and its socket 4429); a right token from elsewhere is fine."""
    path, (alice,) = token_file(1)
    server = make_server(token=INSTRUCTOR, student_tokens=path)
    for _ in range(8):  # no token at all guesses nothing
        assert httpx.get(f"{server}/api/schema").status_code == 401
    statuses = [httpx.get(f"{server}/api/schema?token=guess-{i:012d}").status_code for i in range(6)]
    assert statuses == [401] * 5 + [429]
    blocked = httpx.get(f"{server}/api/schema?token={alice}")
    assert blocked.status_code == 429 and 1 <= int(blocked.headers["retry-after"]) <= 10
    assert "try again in" in blocked.json()["detail"] and blocked.headers["x-frame-options"] == "DENY"
    assert httpx.get(f"{server}/static/index.html?token={alice}").status_code == 429
    code, reason = client_for(server, f"?token={alice}").close_code()
    assert code == 4429 and "try again in" in reason
    assert httpx.get(f"{server}/api/health").status_code == 200  # needs no token: never throttled
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as elsewhere:
        assert elsewhere.get(f"{server}/api/schema?token={alice}").status_code == 200
        assert elsewhere.get(f"{server}/api/schema?token=guess-from-elsewhere").status_code == 401
