"""Custom data over the web: a CSV body read in memory under a size cap, parsed by
models.samples.parse_samples, kept under an unguessable handle ("upload:<hex>") that a socket's
config can name in `data_file`. The web names uploads only: it can read no file of the server's.
"""
from __future__ import annotations

import email.parser
import email.policy
import re
import secrets
import threading
from collections import OrderedDict
from typing import Optional

import torch
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from models.config import ConfigError
from models.samples import SamplesError, parse_samples

HANDLE_PREFIX = "upload:"
HANDLE_PATTERN = re.compile(r"upload:[0-9a-f]{32}")
MULTIPART_FIELD = "file"


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
    """The samples of an upload request (raw CSV body, or multipart field 'file'); UploadError otherwise."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise UploadError(413, f"the upload is {int(declared)} bytes; the limit is {max_bytes}")
    body = bytearray()
    async for chunk in request.stream():  # counted as it arrives: a lying Content-Length cannot get past
        body += chunk
        if len(body) > max_bytes:
            raise UploadError(413, f"the upload is over the limit of {max_bytes} bytes")
    content_type = request.headers.get("content-type", "text/csv")
    raw = _multipart_file(bytes(body), content_type) if content_type.startswith("multipart/") else bytes(body)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UploadError(422, f"the upload is not UTF-8 text (byte {error.start})") from None
    try:
        return await run_in_threadpool(parse_samples, text, max_rows)  # 100k rows take a moment
    except SamplesError as error:
        raise UploadError(422, str(error)) from None


def _multipart_file(body: bytes, content_type: str) -> bytes:
    """The bytes of the form field 'file', parsed in memory (no temporary files)."""
    if "\r" in content_type or "\n" in content_type:
        raise UploadError(422, "bad Content-Type header")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise UploadError(422, "a multipart upload needs a boundary and a field named 'file'")
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == MULTIPART_FIELD:
            return part.get_payload(decode=True) or b""
    raise UploadError(422, f"no form field named '{MULTIPART_FIELD}' in the upload")
