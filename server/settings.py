"""The server's one settings object: every field can be set by an environment variable NCE_<NAME>
(e.g. NCE_PORT=9000, NCE_TOKEN=secret). The README's "Server" section lists them."""
from __future__ import annotations

import ipaddress
import os
from typing import Literal, Optional

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .messages import MAX_MESSAGE_CHARS
from .tokens import check_token_length, read_token_lines

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    """'127.0.0.1', '127.0.0.2', '::1', 'localhost' -> True; '0.0.0.0', '' (every interface), a LAN
    address, any other name (it may resolve to anything) -> False."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# uvicorn options every way of starting the server shares; server.connections.uvicorn_options(settings)
# adds the guarded protocol classes (header deadline, connection caps) to them
UVICORN_OPTIONS = {
    # the largest client message in bytes after inflation, so the socket's frame limit is the app's
    # message limit: a 1 KB deflate bomb stops at 64 KiB (1009), not at 1 MiB. (A message within it
    # has at most as many characters, so every message the socket lets through is within the app's.)
    "ws_max_size": MAX_MESSAGE_CHARS,
    # kept: frames are JSON of numbers; deflate sends 41 % of a 1-D frame's 7.6 KB and 34 % of a 2-D
    # frame's 14.8 KB for 0.45-0.7 ms of CPU each (measured for issue 17), and a room shares one Wi-Fi.
    # What a client's deflated message may inflate to is bounded by ws_max_size above.
    "ws_per_message_deflate": True,
    "timeout_graceful_shutdown": 5,   # Ctrl-C does not wait for open sockets forever
}


def _default_max_connections() -> int:
    """The open-file limit less room for the server's own files, logs and sockets to itself."""
    try:
        import resource
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, ValueError, OSError):
        return 1000
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return 4096
    return max(8, min(65_536, soft - 128))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NCE_", extra="ignore", frozen=True)

    host: str = Field("127.0.0.1", description="Interface to bind; loopback unless told otherwise.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port.")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto", description="Device for sessions whose config does not name one (auto: CUDA, MPS, CPU).")
    max_sessions: int = Field(32, ge=1, le=1024, description="Sockets training at once; more are refused (1013).")
    frame_rate: float = Field(10.0, gt=0, le=60, description="Frames per second per session while running.")
    grad_rate: float = Field(5.0, gt=0, le=60, description="Gradient-comparison refreshes per second in 1-D "
                                                            "(~5 ms of CPU each).")
    grad_rate_2d: float = Field(1.0, gt=0, le=60, description="Gradient-comparison refreshes per second in 2-D "
                                                               "(~20-40 ms of CPU each).")
    frame_grid_2d: int = Field(48, ge=8, le=48, description="Cells per axis of 2-D arrays on the wire.")
    max_bytes_per_s: int = Field(120_000, ge=10_000, description="Bytes per second per client: frames leave out "
                                                                  "their arrays when over this budget.")
    idle_timeout_s: float = Field(1800.0, gt=0, description="No client message for this long: close (4408).")
    max_steps: Optional[int] = Field(None, ge=1, description="Training steps one session may take in all (4408).")
    max_session_seconds: Optional[float] = Field(None, gt=0, description="Wall-clock life of a session (4408).")
    token: Optional[str] = Field(None, min_length=1, description="Access token (16 characters at least): required "
                                 "by /, /static/index.html, /api/* (except /api/health) and the socket when set.")
    max_upload_bytes: int = Field(4_000_000, ge=1_000, description="Largest CSV upload (413 above).")
    max_upload_rows: int = Field(100_000, ge=20, description="Most rows in an uploaded CSV.")
    max_uploads: int = Field(64, ge=1, description="Uploads kept in memory in all; past it the oldest is dropped "
                             "(with student tokens: the oldest of the token holding the most).")
    torch_threads: int = Field(1, ge=1, le=256, description="torch intra-op threads. 1: sessions run in parallel "
                                                           "on separate cores instead of fighting over them.")
    train_slots: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1, le=256, description="Sessions that train at one moment; the others wait "
                                                        "their turn between chunks. Near the core count: many "
                                                        "threads at once spend their time handing the GIL around.")
    render_threads: int = Field(2, ge=1, le=64, description="Threads that make 2-D frames for all sessions, and "
                                                           "as many for 2-D gradient comparisons (1-D ones are "
                                                           "made on the session's own thread).")
    sweep_slots: int = Field(1, ge=1, le=64, description="Sweeps (experiments) running at one moment; the others "
                                                        "wait, queued. One: a sweep already fills the cores it has.")
    sweep_threads: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1, le=256,
                               description="torch threads of a running sweep: its tensors are big enough to "
                                           "gain from every core.")
    # ---- a hosted room: budgets, connections, per-student links (README, "Hosting for a room")
    session_memory_mb: int = Field(512, ge=16, le=1_000_000, description="Predicted peak memory one session's run "
                                   "may need (models/cost.py); a config over it is refused by name. 512: 40 "
                                   "sessions fit in 20 GB of a 24 GB machine.")
    max_step_seconds: float = Field(2.0, gt=0, le=3600, description="Predicted seconds of one training step "
                                    "(models/cost.py, one core); a config over it is refused by name: a step holds "
                                    "one of the room's training slots the whole time. 2 s allows every preset at "
                                    "the largest model with batch 4096 and N_r 16 (~0.8 s).")
    sweep_memory_mb: int = Field(2048, ge=16, le=1_000_000, description="Predicted peak memory one sweep adds "
                                 "(models.experiments.predict: chunked work counts one chunk; sweep_slots run at "
                                 "once); over it the sweep is refused, naming the knobs that lower it.")
    header_timeout_s: float = Field(10.0, gt=0, le=600, description="A connection must send its whole request "
                                    "header within this long, or it is dropped (slowloris).")
    body_timeout_s: float = Field(20.0, gt=0, le=3600, description="An upload's body may pause this long between "
                                  "two pieces before the request is dropped and its memory freed.")
    max_connections: int = Field(default_factory=lambda: _default_max_connections(), ge=8, le=1_000_000,
                                 description="Open TCP connections the server keeps; past it new ones are closed "
                                             "at once. Default: the descriptor limit less 128 (ulimit -n).")
    max_connections_per_ip: int = Field(256, ge=1, le=1_000_000, description="Open connections from one client "
                                        "address; past it new ones are answered 503 at once. A page holds ~6 "
                                        "(its sockets and the browser's HTTP connections): 256 lets a room of 40 "
                                        "share one NAT address. Behind a reverse proxy every client is the proxy: "
                                        "raise it.")
    max_uploads_in_flight: int = Field(8, ge=1, le=1024, description="Upload bodies being received at once; "
                                       "more are answered 503 (each may hold max_upload_bytes).")
    message_rate: float = Field(30.0, ge=1, le=10_000, description="Socket messages per second a client may send "
                                "on average, bursts of 2 s worth (the page sends under 10/s while a slider is "
                                "dragged); past it messages are dropped with one error, and over 10x the rate for "
                                "3 s in a row closes the socket (1008).")
    send_timeout_s: float = Field(10.0, gt=0, le=600, description="A socket whose client reads nothing for this "
                                  "long (its send buffer full) is dropped, limits and closes included.")
    student_tokens: Optional[str] = Field(None, description="File of per-student tokens (one per line, from "
                                          "`nce-playground tokens`); each is accepted like NCE_TOKEN, with its own "
                                          "session quota and upload store.")
    sessions_per_token: int = Field(4, ge=1, le=1024, description="Sessions one token may hold at once: a page "
                                    "with Compare of 3 runs and a sweep.")
    uploads_per_token: int = Field(8, ge=1, le=1024, description="Uploads kept per token (the oldest of that "
                                   "token dropped first): one student cannot evict another's data.")
    allowed_hosts: Optional[list[str]] = Field(None, description="Host headers accepted (DNS-rebinding guard). "
                                                                 "Default: loopback names when bound to loopback, "
                                                                 "else any.")

    @field_validator("token")
    @classmethod
    def _token_long_enough(cls, token: Optional[str]) -> Optional[str]:
        if token is not None:
            check_token_length(token, "NCE_TOKEN")
        return token

    @field_validator("student_tokens")
    @classmethod
    def _student_tokens_usable(cls, path: Optional[str], info: ValidationInfo) -> Optional[str]:
        """The file is read at start-up: unreadable, empty, a short or repeated token is refused (line named)."""
        if path is not None:
            lines = read_token_lines(path)
            if info.data.get("token") in lines:
                raise ValueError(f"NCE_STUDENT_TOKENS={path} line {lines[info.data['token']]}: the same token as "
                                 f"NCE_TOKEN (the instructor's); make the students' anew")
        return path

    def host_allowlist(self) -> Optional[frozenset[str]]:
        """Host names (without port) the app answers to, or None for any."""
        if self.allowed_hosts is not None:
            return None if "*" in self.allowed_hosts else frozenset(h.lower() for h in self.allowed_hosts)
        return frozenset(LOOPBACK_HOSTS) | {self.host.lower()} if is_loopback(self.host) else None
