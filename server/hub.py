"""The Hub: what all sessions share (render pools, uploads) and who may open one (token, origin,
max_sessions, and a student token's own sessions_per_token). Made by the app's lifespan; closed with it."""
from __future__ import annotations

import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Optional

import torch
from starlette.websockets import WebSocket, WebSocketState

from .runner import Services
from .security import CLOSE_UNAUTHORISED, Access, Refused, same_origin
from .session import Session
from .settings import Settings
from .tokens import Holder
from .uploads import OwnerUploads, UploadStore

log = logging.getLogger(__name__)

CLOSE_BUSY = 1013        # try again later (RFC 6455)
CLOSE_INTERNAL = 1011
CLOSE_FORBIDDEN = 4403


class Hub:
    def __init__(self, settings: Settings, access: Optional[Access] = None):
        self.settings = settings
        self.access = access or Access(settings)
        self.services = Services(
            settings=settings,
            frame_pool=ThreadPoolExecutor(settings.render_threads, thread_name_prefix="nce-frame",
                                          initializer=torch.set_num_threads, initargs=(settings.torch_threads,)),
            grad_pool=ThreadPoolExecutor(settings.render_threads, thread_name_prefix="nce-grad",
                                         initializer=torch.set_num_threads, initargs=(settings.torch_threads,)),
            uploads=UploadStore(settings.max_uploads),
            train_slots=threading.BoundedSemaphore(settings.train_slots),
            sweep_slots=threading.BoundedSemaphore(settings.sweep_slots),
        )
        # open, or closed with threads still ending (Session.run returns once they have): what /api/health and
        # max_sessions count (touched on the event loop only)
        self.sessions: set[Session] = set()
        self.sessions_of: Counter[str] = Counter()  # the same, by holder key

    @property
    def active(self) -> int:
        return len(self.sessions)

    @property
    def uploads(self) -> UploadStore:
        return self.services.uploads

    def uploads_of(self, holder: Holder) -> OwnerUploads:
        """The uploads `holder` sees: its own; a student's at most uploads_per_token."""
        return self.uploads.of(holder.key, self.settings.uploads_per_token if holder.student else None)

    def admit(self, websocket: WebSocket) -> Holder | tuple[int, str]:
        """Who opens this socket, or why it may not open a session (close code and reason)."""
        try:
            holder = self.access.admit(websocket)
        except Refused as refused:
            reason = "a valid access token is required (?token=... in the page's address)" \
                if refused.close_code == CLOSE_UNAUTHORISED else refused.detail
            return refused.close_code, reason
        if not same_origin(websocket):
            return CLOSE_FORBIDDEN, "cross-origin socket refused: open the page from this server"
        quota = self.settings.sessions_per_token
        if holder.student and self.sessions_of[holder.key] >= quota:
            return CLOSE_BUSY, (f"this link already has {quota} sessions open (NCE_SESSIONS_PER_TOKEN={quota}): "
                                f"close a tab, a Compare run or a sweep first")
        if self.active >= self.settings.max_sessions:
            return CLOSE_BUSY, f"the server is busy: {self.settings.max_sessions} sessions are open; try again later"
        return holder

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()  # a close code and reason can only be sent on an accepted socket
        holder = self.admit(websocket)
        if not isinstance(holder, Holder):
            await websocket.close(*holder)
            return
        session = Session(websocket, replace(self.services, uploads=self.uploads_of(holder)))
        self.sessions.add(session)
        self.sessions_of[holder.key] += 1
        try:
            await session.run()
        except Exception:  # a bug in the session: log it, close cleanly, keep serving the others
            log.exception("session failed")
            if websocket.application_state == WebSocketState.CONNECTED:
                try:
                    await websocket.close(CLOSE_INTERNAL, "internal error")
                except (RuntimeError, OSError):
                    pass
        finally:
            self.sessions.discard(session)
            self.sessions_of[holder.key] -= 1
            if not self.sessions_of[holder.key]:
                del self.sessions_of[holder.key]

    def close(self) -> None:
        """At shutdown: stop every session's training and wait (briefly) for the threads, so none is
        left inside torch when the interpreter exits."""
        runners = [session.runner for session in self.sessions if session.runner is not None]
        for runner in runners:
            runner.stop()
        for runner in runners:
            runner.join(timeout=2.0)
        self.services.frame_pool.shutdown(wait=True, cancel_futures=True)
        self.services.grad_pool.shutdown(wait=True, cancel_futures=True)
