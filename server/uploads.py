"""Custom data over the web: a CSV body (raw, or the field 'file' of a multipart form parsed by
Starlette's streaming parser) read under a size cap, parsed by models.samples.parse_samples on a
worker thread, kept under an unguessable handle ("upload:<hex>") that a socket's
config can name in `data_file`. The web names uploads only: it can read no file of the server's.
"""
from __future__ import annotations

import asyncio
import logging
import re
import secrets
import threading
from collections import OrderedDict
from typing import Optional

import torch
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive

from models.config import ConfigError
from models.samples import SamplesError, parse_samples

from .connections import DropLog
from .memory import release_freed_memory

log = logging.getLogger(__name__)

HANDLE_PREFIX = "upload:"
HANDLE_PATTERN = re.compile(r"upload:[0-9a-f]{32}")
MULTIPART_FIELD = "file"
MAX_FORM_FILES = 4    # file parts in one multipart upload: the page sends one
MAX_FORM_FIELDS = 16  # other fields: a form of 50,000 tiny parts is refused at the 17th, not parsed through


class UploadError(Exception):
    """A refused upload: an HTTP status, a message for the person who sent it, and headers for the
    answer (Connection: close after a stalled body, Retry-After when the server is busy)."""

    def __init__(self, status: int, detail: str, headers: Optional[dict[str, str]] = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


class UploadStore:
    """Parsed uploads in memory, each kept for its owner (a token's holder; one owner when the server
    sets no token). An owner keeps at most its `limit` (the oldest, least recently used, dropped first);
    past `capacity` in all, the oldest upload of the owner holding the most is dropped: an owner's
    uploads are never evicted by one who holds fewer. Thread-safe: the routes add, the sessions read."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: OrderedDict[str, tuple[Optional[str], torch.Tensor]] = OrderedDict()  # least recent first
        self._owned: dict[Optional[str], OrderedDict[str, None]] = {}  # owner -> its handles, least recent first
        self._lock = threading.Lock()

    def add(self, samples: torch.Tensor, owner: Optional[str] = None, limit: Optional[int] = None) -> str:
        handle = HANDLE_PREFIX + secrets.token_hex(16)
        with self._lock:
            self._items[handle] = (owner, samples)
            mine = self._owned.setdefault(owner, OrderedDict())
            mine[handle] = None
            while len(mine) > min(limit or self.capacity, self.capacity):
                self._drop_oldest_of(owner)
            while len(self._items) > self.capacity:
                most = max(len(handles) for handles in self._owned.values())
                fullest = [o for o, handles in self._owned.items() if len(handles) == most]
                self._drop_oldest_of(owner if owner in fullest else min(fullest, key=self._age_rank))
        return handle

    def _drop_oldest_of(self, owner: Optional[str]) -> None:
        handles = self._owned[owner]
        handle, _ = handles.popitem(last=False)
        del self._items[handle]
        if not handles:
            del self._owned[owner]

    def _age_rank(self, owner: Optional[str]) -> int:
        """Where the owner's least recent upload stands among all (0: the least recent of all)."""
        oldest = next(iter(self._owned[owner]))
        return next(i for i, handle in enumerate(self._items) if handle == oldest)

    def get(self, handle: str, owner: Optional[str] = None) -> Optional[torch.Tensor]:
        """The samples behind `handle` if `owner` uploaded them; None otherwise."""
        with self._lock:
            item = self._items.get(handle)
            if item is None or item[0] != owner:
                return None
            self._items.move_to_end(handle)
            self._owned[owner].move_to_end(handle)
            return item[1]

    def count(self, owner: Optional[str] = None) -> int:
        with self._lock:
            return len(self._owned.get(owner, ()))

    def samples_for(self, handle: Optional[str], owner: Optional[str] = None) -> torch.Tensor:
        """The samples behind a config's data_file, or ConfigError naming the field."""
        check_data_file(handle)
        samples = self.get(handle, owner) if handle else None
        if samples is None:
            raise ConfigError(["data_file: unknown upload handle; upload the CSV again (POST /api/upload) "
                               "and use the handle it returns"])
        return samples

    def of(self, owner: Optional[str], limit: Optional[int] = None) -> "OwnerUploads":
        return OwnerUploads(self, owner, limit)


class OwnerUploads:
    """One owner's view of the store (what its sessions and upload requests see): it adds under its
    own name, up to its `limit`, and finds its own handles only."""

    def __init__(self, store: UploadStore, owner: Optional[str], limit: Optional[int] = None):
        self.store, self.owner, self.limit = store, owner, limit

    def add(self, samples: torch.Tensor) -> str:
        return self.store.add(samples, self.owner, self.limit)

    def samples_for(self, handle: Optional[str]) -> torch.Tensor:
        return self.store.samples_for(handle, self.owner)


def check_data_file(value: object) -> None:
    """Over the web, data_file may only be an upload handle: a path is refused before anything reads it."""
    if value is None:
        return
    if not isinstance(value, str) or not HANDLE_PATTERN.fullmatch(value):
        raise ConfigError(["data_file: must be an upload handle 'upload:<hex>' from POST /api/upload; "
                           "the web can read no file of the server's"])


async def read_upload(request: Request, max_bytes: int, max_rows: int) -> torch.Tensor:
    """The samples of an upload request (raw CSV body, or multipart field 'file'); UploadError otherwise.
    The body is counted as it arrives (over max_bytes: 413, whatever Content-Length said); a form is
    parsed by Starlette's streaming parser under MAX_FORM_FILES / MAX_FORM_FIELDS; the CSV is decoded
    and parsed on a worker thread, so the event loop (and every other session) never waits on it.
    From the app's settings: at most NCE_MAX_UPLOADS_IN_FLIGHT bodies are received (and parsed) at once,
    the next is answered 429 (each may hold max_bytes until parsed); a body that sends nothing for
    NCE_BODY_TIMEOUT_S is answered 408, its connection closed, what it sent freed and handed back to the
    OS (a stalled client held its bytes forever: 600 of them, 2.6 GB)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and (len(declared) > 18 or int(declared) > max_bytes):
        size = declared if len(declared) <= 18 else "over 10^18"
        raise UploadError(413, f"the upload is {size} bytes; the limit is {max_bytes}")
    gate = _gate_of(request)
    body = _CappedBody(request.receive, max_bytes, gate.body_timeout_s)
    if not gate.take():
        why = (f"the server is receiving {gate.capacity} uploads already, the most it takes at once "
               f"(NCE_MAX_UPLOADS_IN_FLIGHT): retry in a few seconds")
        gate.drops.note(asyncio.get_running_loop(), "uploads-in-flight", "refused an upload", why,
                        _client_of(request))
        if request.headers.get("expect", "").lower() != "100-continue":
            await body.drain()  # it sends its body anyway: read and drop it, so the answer reaches it
        raise UploadError(429, why, {"Retry-After": "5"})
    try:
        failure: Optional[UploadError] = None
        try:
            raw = await _read_body(request, body, max_bytes)
        except ClientDisconnect:
            log.info("upload: the client disconnected before its upload ended")
            failure = UploadError(400, "the client disconnected before the upload ended")
        except UploadError as error:
            if error.status != 408:
                raise
            gate.drops.note(asyncio.get_running_loop(), "upload-stalled", "dropped an upload", error.detail,
                            _client_of(request))
            # a new one, not the caught one: its traceback holds the frames that hold what the body sent
            failure = UploadError(error.status, error.detail, error.headers)
        if failure is not None:
            # outside the except block the body's bytes are garbage: hand the pages back to the OS
            await asyncio.to_thread(release_freed_memory)
            raise failure
        try:
            return await run_in_threadpool(_parse, raw, max_rows)  # 100k rows take a moment
        except SamplesError as error:
            raise UploadError(422, str(error)) from None
    finally:
        gate.give_back()


async def _read_body(request: Request, body: "_CappedBody", max_bytes: int) -> bytes | str:
    capped = Request(request.scope, body.receive)
    if request.headers.get("content-type", "").lower().startswith("multipart/"):
        try:
            return await _form_file(capped, max_bytes)
        except UploadError as error:
            if error.status not in (408, 413):
                await body.drain()
            raise
    return await capped.body()


def _client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class UploadGate:
    """One app's upload bodies being received at once, at most `capacity`; the body timeout; and the
    (rate-limited) log of the uploads it refused or dropped."""

    def __init__(self, capacity: int, body_timeout_s: float):
        self.capacity, self.body_timeout_s = capacity, body_timeout_s
        self.in_flight = 0
        self.drops = DropLog()

    def take(self) -> bool:
        if self.in_flight >= self.capacity:
            return False
        self.in_flight += 1
        return True

    def give_back(self) -> None:
        self.in_flight -= 1


def _gate_of(request: Request) -> UploadGate:
    """The app's UploadGate, made from its settings at its first upload (only the event loop's thread
    gets here: no lock)."""
    state = request.app.state
    gate = getattr(state, "upload_gate", None)
    if gate is None:
        gate = state.upload_gate = UploadGate(state.settings.max_uploads_in_flight, state.settings.body_timeout_s)
    return gate


class _CappedBody:
    """A request's `receive` that raises UploadError(413) once the body passes max_bytes (a lying or
    absent Content-Length cannot get past) and UploadError(408) when nothing comes for idle_timeout_s,
    and knows whether the body has ended."""

    def __init__(self, receive: Receive, max_bytes: int, idle_timeout_s: Optional[float] = None):
        self._receive, self.max_bytes, self.idle_timeout_s = receive, max_bytes, idle_timeout_s
        self.seen, self.ended = 0, False

    async def receive(self) -> Message:
        try:
            message = await asyncio.wait_for(self._receive(), self.idle_timeout_s)
        except asyncio.TimeoutError:
            self.ended = True  # nothing more is read: the answer closes the connection
            raise UploadError(408, f"the upload stopped: no data for {self.idle_timeout_s:g} s "
                                   f"(NCE_BODY_TIMEOUT_S); send it again", {"Connection": "close"}) from None
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            self.ended = not message.get("more_body", False)
            if self.seen > self.max_bytes:
                raise UploadError(413, f"the upload is over the limit of {self.max_bytes} bytes")
        else:  # http.disconnect
            self.ended = True
        return message

    async def drain(self) -> None:
        """Read what is left of a refused body (at most max_bytes in all, each piece within the idle
        timeout), so the client gets its answer instead of a reset while it still sends."""
        while not self.ended:
            await self.receive()


async def _form_file(request: Request, max_bytes: int) -> bytes | str:
    """The content of form field 'file' (a file part: bytes; a plain field: text)."""
    try:
        form = await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS, max_part_size=max_bytes)
    except HTTPException as error:  # Starlette's MultiPartException, answered as 400 by default
        raise UploadError(422, f"bad multipart upload: {str(error.detail).rstrip('.')} (a form has a boundary, "
                               f"at most {MAX_FORM_FILES} file parts and {MAX_FORM_FIELDS} other fields, "
                               f"and the CSV in the field '{MULTIPART_FIELD}')") from None
    try:
        value = form.get(MULTIPART_FIELD)
        if value is None:
            raise UploadError(422, f"no form field named '{MULTIPART_FIELD}' in the upload")
        return value if isinstance(value, str) else await value.read()
    finally:
        await form.close()


def _parse(raw: bytes | str, max_rows: int) -> torch.Tensor:
    """On a worker thread: UTF-8 text (a BOM is dropped) -> samples; SamplesError or UploadError."""
    if isinstance(raw, str):
        text = raw.removeprefix("\ufeff")
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise UploadError(422, f"the upload is not UTF-8 text (byte {error.start})") from None
    return parse_samples(text, max_rows)
