"""What waits to go out on one socket, filled from any thread and emptied by the session's sender.

Replies (config, status, error) queue in order and all go out; frames do not queue: a newer frame
replaces an unsent one (merged, see wire.merge_unsent), so a slow client costs one frame of memory
and never holds up training. The ByteBudget paces the bulky parts of frames per client.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable, Optional, Union

from . import wire

MAX_PENDING_REPLIES = 256  # replies only pile up when a client sends and never reads
CLOSE_POLICY = 1008


class Close:
    """`drop`: the connection is aborted as soon as the close frame is written, without waiting for the
    client's side of the closing handshake (a flooding client keeps sending meanwhile)."""

    def __init__(self, code: int, reason: str, drop: bool = False):
        self.code, self.reason, self.drop = code, reason[:120], drop  # a close reason must fit in 123 bytes


Item = Union[str, Close]


class Outbox:
    def __init__(self, wake: Callable[[], None]):
        self._wake = wake  # thread-safe: tells the sender there is something to send
        self._lock = threading.Lock()
        self._replies: deque[str] = deque()
        self._frame: Optional[dict] = None
        self._frame_text: Optional[str] = None
        self._close: Optional[Close] = None

    def put(self, message: dict) -> None:
        text = wire.dumps(message)
        with self._lock:
            if self._close is not None:
                return
            if len(self._replies) >= MAX_PENDING_REPLIES:
                self._close = Close(CLOSE_POLICY, "too many unread messages: the client is not reading")
            else:
                self._replies.append(text)
        self._wake()

    def put_frame(self, frame: dict) -> int:
        """Offer a frame (newest wins); returns its size in characters. One producer at a time (the
        session's render job); the sender may take concurrently."""
        with self._lock:  # claim the unsent frame, then merge and serialise outside the lock
            older, self._frame, self._frame_text = self._frame, None, None
        if older is not None:
            frame = wire.merge_unsent(older, frame)
        text = wire.dumps(frame)
        with self._lock:
            if self._close is None:
                self._frame, self._frame_text = frame, text
        self._wake()
        return len(text)

    def close(self, code: int, reason: str, drop: bool = False) -> None:
        """Send what is queued, then close the socket with `code` and `reason` (and `drop`: see Close)."""
        with self._lock:
            if self._close is None:
                self._close = Close(code, reason, drop)
        self._wake()

    def take(self) -> list[Item]:
        """Everything to send now, in order: replies, the newest frame, then a close if one was asked for."""
        with self._lock:
            items: list[Item] = list(self._replies)
            self._replies.clear()
            if self._frame_text is not None:
                items.append(self._frame_text)
                self._frame, self._frame_text = None, None
            if self._close is not None:
                items.append(self._close)
            return items


class ByteBudget:
    """A token bucket of bytes per second for one client (refills continuously, holds one second's worth)."""

    def __init__(self, rate: float):
        self.rate = float(rate)
        self._tokens = self.rate
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def allows(self, size: int) -> bool:
        with self._lock:
            self._refill()
            return self._tokens >= size

    def spend(self, size: int) -> None:
        with self._lock:
            self._refill()
            self._tokens -= size
