"""Client -> server messages (docs/protocol.md): JSON text checked into a Command, or a
MessageError whose text says what was wrong, for an `error` reply."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

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
