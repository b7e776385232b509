"""Client -> server messages (docs/protocol.md): JSON text checked into a Command, or a
MessageError whose text says what was wrong, for an `error` reply; and MessageRate, how many of them
one socket may send."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable, Optional

MAX_MESSAGE_CHARS = 65_536  # a full config is ~1 KB
MAX_STEP_N = 10_000
FIELDS = {  # the fields each message type may carry, besides "type"
    "start": {"config", "paused"}, "set": {"config"}, "step": {"n"},
    "pause": set(), "resume": set(), "reset": set(), "ping": set(),
    "sweep": {"config"}, "sweep_cancel": set(),
}


class MessageError(ValueError):
    pass


@dataclass(frozen=True)
class Command:
    kind: str
    config: Optional[dict] = None  # start, set, sweep
    n: int = 0  # step
    paused: bool = False  # start: hold at step 0 until resume


def parse_message(text: str) -> Command:
    if len(text) > MAX_MESSAGE_CHARS:
        raise MessageError(f"message too long ({len(text)} characters; the limit is {MAX_MESSAGE_CHARS})")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as error:  # RecursionError: absurdly deep nesting
        raise MessageError(f"not valid JSON: {str(error)[:120]}") from None
    if not isinstance(message, dict):
        raise MessageError("a message must be a JSON object with a 'type'")
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in FIELDS:
        raise MessageError(f"type: must be one of {', '.join(FIELDS)} (got {_short(kind)})")
    unknown = sorted(set(message) - FIELDS[kind] - {"type"})
    if unknown:
        hint = " (knobs go inside 'config')" if kind in ("start", "set") else ""
        raise MessageError(f"{kind}: unknown field {_short(unknown[0])}{hint}")
    if kind == "sweep":
        config = message.get("config")
        if not isinstance(config, dict):
            raise MessageError("sweep: 'config' must be an object with an 'experiment' and its knobs")
        return Command(kind, config=config)
    if kind in ("start", "set"):
        config = message.get("config", {} if kind == "start" else None)
        if not isinstance(config, dict):
            raise MessageError(f"{kind}: 'config' must be an object of knob names to values")
        paused = message.get("paused", False)
        if type(paused) is not bool:
            raise MessageError(f"paused: must be true or false (got {_short(paused)})")
        return Command(kind, config=config, paused=paused)
    if kind == "step":
        n = message.get("n")
        if type(n) is not int or not 1 <= n <= MAX_STEP_N:
            raise MessageError(f"n: must be an integer from 1 to {MAX_STEP_N} (got {_short(n)})")
        return Command(kind, n=n)
    return Command(kind)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


BURST_SECONDS = 2.0  # a burst of this many seconds' worth of messages passes at once
FLOOD_FACTOR = 10    # a socket sending over FLOOD_FACTOR × the rate ...
FLOOD_SECONDS = 3    # ... in each of this many whole seconds in a row is closed (a flood, not a busy page)
READ_CAP_FACTOR = 2  # past this many times the flood limit in one second, the rest waits for the next second
RUN, DROP, REFUSE, FLOOD = "run", "drop", "refuse", "flood"  # MessageRate.admit's verdicts


class MessageRate:
    """The message budget of one socket: a token bucket refilled at `rate` messages per second that holds
    BURST_SECONDS of them. admit() is asked for every message (pings and binary ones too) and says:
    - RUN it;
    - DROP it unrun;
    - REFUSE: drop it and send one `error` (refusal()). Only the first drop of an episode, which ends
      once the bucket is full again, so a flood gets one reply, not one per message;
    - FLOOD: over FLOOD_FACTOR × rate in each of FLOOD_SECONDS whole seconds in a row: close the socket
      (flood_reason()).
    Used on the event loop only (no lock); `clock` is for tests."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic):
        self.rate = float(rate)
        self.burst = max(1.0, BURST_SECONDS * self.rate)
        self.flood_limit = FLOOD_FACTOR * self.rate  # messages in one second
        self._clock = clock
        self._tokens, self._at = self.burst, clock()
        self._warned = False
        self._origin, self._window, self._in_window, self._flood_windows = self._at, 0, 0, 0

    def admit(self) -> str:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._flooding(now):
            return FLOOD
        if self._tokens >= self.burst:
            self._warned = False  # calm again: the next episode gets its own reply
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return RUN
        if self._warned:
            return DROP
        self._warned = True
        return REFUSE

    def _flooding(self, now: float) -> bool:
        """Count this message in its whole second since the first; True once FLOOD_SECONDS seconds in a
        row (this one included) each held more than flood_limit messages."""
        window = int(now - self._origin)
        if window != self._window:
            flooded = window == self._window + 1 and self._in_window > self.flood_limit
            self._flood_windows = self._flood_windows + 1 if flooded else 0
            self._window, self._in_window = window, 0
        self._in_window += 1
        return self._flood_windows + (self._in_window > self.flood_limit) >= FLOOD_SECONDS

    def pause(self) -> float:
        """Seconds to wait before reading the next message: 0 (a chance for the others to run), or the
        rest of this second once it held READ_CAP_FACTOR × flood_limit messages. So a flood is read only
        as fast as it takes to see it (the rest waits in the client's socket and blocks its sender), and
        costs the event loop a bounded few hundred messages a second."""
        if self._in_window < READ_CAP_FACTOR * self.flood_limit:
            return 0.0
        return max(0.0, self._origin + self._window + 1 - self._clock())

    def refusal(self) -> str:
        return (f"too many messages: this server runs {self.rate:g} per second from one socket on average, "
                f"bursts of {self.burst:g} (NCE_MESSAGE_RATE); the ones over it are dropped, not run. Slow down")

    def flood_reason(self) -> str:
        """The close reason (under 123 bytes)."""
        return (f"message flood: over {self.flood_limit:g}/s for {FLOOD_SECONDS} s "
                f"(NCE_MESSAGE_RATE is {self.rate:g}/s)")
