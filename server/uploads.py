"""Custom data over the web: a CSV body (raw, or the field 'file' of a multipart form parsed by
Starlette's streaming parser) read under a size cap, parsed by models.samples.parse_samples on a
worker thread, kept under an unguessable handle ("upload:<hex>") that a socket's
config can name in `data_file`. The web names uploads only: it can read no file of the server's.
"""
from __future__ import annotations

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

log = logging.getLogger(__name__)

HANDLE_PREFIX = "upload:"
HANDLE_PATTERN = re.compile(r"upload:[0-9a-f]{32}")
MULTIPART_FIELD = "file"
MAX_FORM_FILES = 4    # file parts in one multipart upload: the page sends one
MAX_FORM_FIELDS = 16  # other fields: a form of 50,000 tiny parts is refused at the 17th, not parsed through


class UploadError(Exception):
    """A refused upload: an HTTP status and a message for the person who sent it."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


class UploadStore:
    """Parsed uploads in memory, the oldest dropped first beyond `capacity`. Thread-safe: the
    routes add, the session workers read."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, samples: torch.Tensor) -> str:
        handle = HANDLE_PREFIX + secrets.token_hex(16)
        with self._lock:
            self._items[handle] = samples
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return handle

    def get(self, handle: str) -> Optional[torch.Tensor]:
        with self._lock:
            samples = self._items.get(handle)
            if samples is not None:
                self._items.move_to_end(handle)
            return samples

    def samples_for(self, handle: Optional[str]) -> torch.Tensor:
        """The samples behind a config's data_file, or ConfigError naming the field."""
        check_data_file(handle)
        samples = self.get(handle) if handle else None
        if samples is None:
            raise ConfigError(["data_file: unknown upload handle; upload the CSV again (POST /api/upload) "
                               "and use the handle it returns"])
        return samples


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
    and parsed on a worker thread, so the event loop (and every other session) never waits on it."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and (len(declared) > 18 or int(declared) > max_bytes):
        size = declared if len(declared) <= 18 else "over 10^18"
        raise UploadError(413, f"the upload is {size} bytes; the limit is {max_bytes}")
    body = _CappedBody(request.receive, max_bytes)
    capped = Request(request.scope, body.receive)
    try:
        if request.headers.get("content-type", "").lower().startswith("multipart/"):
            try:
                raw = await _form_file(capped, max_bytes)
            except UploadError as error:
                if error.status != 413:
                    await body.drain()
                raise
        else:
            raw = await capped.body()
    except ClientDisconnect:
        log.info("upload: the client disconnected before its upload ended")
        raise UploadError(400, "the client disconnected before the upload ended") from None
    try:
        return await run_in_threadpool(_parse, raw, max_rows)  # 100k rows take a moment
    except SamplesError as error:
        raise UploadError(422, str(error)) from None


class _CappedBody:
    """A request's `receive` that raises UploadError(413) once the body passes max_bytes (a lying or
    absent Content-Length cannot get past), and knows whether the body has ended."""

    def __init__(self, receive: Receive, max_bytes: int):
        self._receive, self.max_bytes = receive, max_bytes
        self.seen, self.ended = 0, False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            self.ended = not message.get("more_body", False)
            if self.seen > self.max_bytes:
                raise UploadError(413, f"the upload is over the limit of {self.max_bytes} bytes")
        else:  # http.disconnect
            self.ended = True
        return message

    async def drain(self) -> None:
        """Read what is left of a refused body (at most max_bytes in all), so the client gets its
        answer instead of a reset while it still sends."""
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
