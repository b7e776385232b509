"""The server's one settings object: every field can be set by an environment variable NCE_<NAME>
(e.g. NCE_PORT=9000, NCE_TOKEN=secret). The README's "Server" section lists them."""
from __future__ import annotations

import ipaddress
import os
from typing import Literal, Optional

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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


# uvicorn options the CLI and the tests' live server share
UVICORN_OPTIONS = {
    "ws_max_size": 1 << 20,           # a client message is ~1 KB; anything near this is refused (1009)
    "timeout_graceful_shutdown": 5,   # Ctrl-C does not wait for open sockets forever
}


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
    token: Optional[str] = Field(None, min_length=1, description="Access token: required by /, /api/* (except "
                                                                "/api/health) and the socket when set.")
    max_upload_bytes: int = Field(4_000_000, ge=1_000, description="Largest CSV upload (413 above).")
    max_upload_rows: int = Field(100_000, ge=20, description="Most rows in an uploaded CSV.")
    max_uploads: int = Field(64, ge=1, description="Uploads kept in memory; the oldest is dropped first.")
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
    allowed_hosts: Optional[list[str]] = Field(None, description="Host headers accepted (DNS-rebinding guard). "
                                                                 "Default: loopback names when bound to loopback, "
                                                                 "else any.")

    def host_allowlist(self) -> Optional[frozenset[str]]:
        """Host names (without port) the app answers to, or None for any."""
        if self.allowed_hosts is not None:
            return None if "*" in self.allowed_hosts else frozenset(h.lower() for h in self.allowed_hosts)
        return frozenset(LOOPBACK_HOSTS) | {self.host.lower()} if is_loopback(self.host) else None
