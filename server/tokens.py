"""Access tokens for a hosted room: `NCE_TOKEN` (one person, or the instructor) and `NCE_STUDENT_TOKENS`
(a file of per-student tokens written by `nce-playground tokens`, one per line). Here: making and
reading token files, telling which token a request carries (in constant time), and a throttle on wrong
guesses per client address. Standard library only: settings.py validates with these at start-up.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import os
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MIN_TOKEN_CHARS = 16     # 16 characters of token_urlsafe are 96 bits: no guessing them, throttled or not
TOKEN_BYTES = 24         # secrets.token_urlsafe(24): 32 characters, 192 bits
MAX_TOKEN_COUNT = 10_000
TOKEN_FILE_MODE = 0o600  # the file is as good as the links: its owner alone reads it
STUDENT_TOKENS_SETTING = "NCE_STUDENT_TOKENS"


class TokenFileError(ValueError):
    """A token file that cannot be used: the message names NCE_STUDENT_TOKENS, the file and the line."""


# ------------------------------------------------------------------ making and reading token files
def new_tokens(count: int) -> list[str]:
    """`count` fresh tokens, URL-safe (A-Z a-z 0-9 - _), 32 characters each."""
    if not 1 <= count <= MAX_TOKEN_COUNT:
        raise ValueError(f"--count must be from 1 to {MAX_TOKEN_COUNT:,} (got {count})")
    return [secrets.token_urlsafe(TOKEN_BYTES) for _ in range(count)]  # 192 random bits: no repeats


def write_token_file(path: str | os.PathLike, tokens: Sequence[str]) -> None:
    """One token per line in a new file readable by its owner only (mode 0600). An existing file is
    refused rather than replaced: its links may be handed out already."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(path, flags, TOKEN_FILE_MODE)
    try:
        os.fchmod(descriptor, TOKEN_FILE_MODE)  # whatever the umask left
        os.write(descriptor, "".join(f"{token}\n" for token in tokens).encode("ascii"))
    finally:
        os.close(descriptor)


def link_with_token(url: str, token: str) -> str:
    """`url` with ?token=... set (other query parameters and a #hash kept)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "token"]
    return urlunsplit(parts._replace(path=parts.path or "/", query=urlencode(query + [("token", token)])))


def check_token_length(token: str, name: str) -> None:
    if len(token) < MIN_TOKEN_CHARS:
        raise ValueError(f"{name} is {len(token)} characters; a token needs at least {MIN_TOKEN_CHARS} "
                         f"(a short one is guessed in seconds), e.g. {name}=$(openssl rand -hex 16)")


def read_token_file(path: str | os.PathLike) -> list[str]:
    """The tokens in a file of one token per line (blank lines and lines starting with # are skipped).
    TokenFileError naming NCE_STUDENT_TOKENS when the file cannot be read or holds no token, and the
    line of a short token, a line with more than one word, or a token seen before."""
    return list(read_token_lines(path))


def read_token_lines(path: str | os.PathLike) -> dict[str, int]:
    """read_token_file's tokens, each with its line number."""
    where = f"{STUDENT_TOKENS_SETTING}={path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TokenFileError(f"{where}: cannot read the token file: {error}") from None
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        token = line.strip()
        if not token or token.startswith("#"):
            continue
        if len(token.split()) > 1:
            raise TokenFileError(f"{where} line {number}: one token per line (this line has "
                                 f"{len(token.split())} words)")
        if len(token) < MIN_TOKEN_CHARS:
            raise TokenFileError(f"{where} line {number}: the token is {len(token)} characters; each needs at "
                                 f"least {MIN_TOKEN_CHARS} (make them with `nce-playground tokens`)")
        if token in first_line:
            raise TokenFileError(f"{where} line {number}: the same token as line {first_line[token]}; "
                                 f"every student needs a token of their own")
        first_line[token] = number
    if not first_line:
        raise TokenFileError(f"{where}: the file holds no token (one per line; make them with "
                             f"`nce-playground tokens --count N --out FILE`)")
    return first_line


# ------------------------------------------------------------------ who a request is
@dataclass(frozen=True)
class Holder:
    """Who opened a request, by its token: `key` names its session quota and upload store."""
    key: str
    student: bool = False  # a per-student token: its own quotas (sessions_per_token, uploads_per_token)


LOCAL = Holder("local")            # no token set: everyone is the same one person (local use)
INSTRUCTOR = Holder("instructor")  # NCE_TOKEN


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class TokenGate:
    """The tokens a server accepts. `holder_of` compares the supplied token with every known one, in
    constant time each and all of them every time: how long it takes says nothing about which token
    (or how much of one) was right."""

    def __init__(self, instructor: Optional[str] = None, students: Sequence[str] = ()):
        self._known: list[tuple[bytes, Holder]] = []
        if instructor is not None:
            self._known.append((_digest(instructor), INSTRUCTOR))
        self._known += [(_digest(token), Holder(f"student-{i + 1}", student=True)) for i, token in enumerate(students)]

    @property
    def required(self) -> bool:
        return bool(self._known)

    def holder_of(self, supplied: str) -> Optional[Holder]:
        """The holder of `supplied`; LOCAL when no token is set; None for a wrong or missing token."""
        if not self._known:
            return LOCAL
        digest, found = _digest(supplied), None
        for known, holder in self._known:
            if hmac.compare_digest(digest, known) and found is None:
                found = holder
        return found


# ------------------------------------------------------------------ wrong guesses
@dataclass
class _Guesses:
    failures: deque = field(default_factory=deque)  # times of recent wrong tokens
    blocked_until: float = 0.0
    blocks: int = 0          # blocks so far: each one lasts twice the one before
    last_failure: float = 0.0


class GuessThrottle:
    """Wrong tokens per client address. After `allowed` within `window_s`, that address is refused
    (without a look at its token) for `first_block_s`, doubling with each further block up to
    `max_block_s`; an address quiet for `max_block_s` starts afresh. A right token from another
    address never waits. Thread-safe; keeps at most `max_addresses` (the least recent forgotten)."""

    def __init__(self, allowed: int = 5, window_s: float = 60.0, first_block_s: float = 10.0,
                 max_block_s: float = 900.0, max_addresses: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.allowed, self.window_s = allowed, window_s
        self.first_block_s, self.max_block_s = first_block_s, max_block_s
        self.max_addresses, self.clock = max_addresses, clock
        self._addresses: OrderedDict[str, _Guesses] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> Optional[int]:
        """Whole seconds `address` must wait before its next try, or None when it may try now."""
        with self._lock:
            guesses = self._addresses.get(address)
            if guesses is None:
                return None
            left = guesses.blocked_until - self.clock()
            return max(1, math.ceil(left)) if left > 0 else None

    def failed(self, address: str) -> Optional[int]:
        """Count a wrong token from `address`; the seconds of the block it starts, if it starts one."""
        now = self.clock()
        with self._lock:
            guesses = self._addresses.pop(address, None) or _Guesses()
            self._addresses[address] = guesses  # the most recent last
            while len(self._addresses) > self.max_addresses:
                self._addresses.popitem(last=False)
            if now - guesses.last_failure > self.max_block_s and now >= guesses.blocked_until:
                guesses.blocks = 0  # quiet long enough: forgiven
            guesses.last_failure = now
            while guesses.failures and now - guesses.failures[0] > self.window_s:
                guesses.failures.popleft()
            guesses.failures.append(now)
            if len(guesses.failures) < self.allowed:
                return None
            block = min(self.max_block_s, self.first_block_s * 2 ** guesses.blocks)
            guesses.blocks += 1
            guesses.failures.clear()
            guesses.blocked_until = now + block
            return math.ceil(block)
