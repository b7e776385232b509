"""The Hub: what all sessions share (render pools, uploads) and who may open one (token, origin,
max_sessions). Made by the app's lifespan; closed with it."""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import torch
from starlette.websockets import WebSocket, WebSocketState

from .runner import Services
from .security import same_origin, token_matches
from .session import Session
from .settings import Settings
from .uploads import UploadStore

log = logging.getLogger(__name__)

CLOSE_BUSY = 1013        # try again later (RFC 6455)
CLOSE_INTERNAL = 1011
CLOSE_UNAUTHORISED = 4401
CLOSE_FORBIDDEN = 4403


class Hub:
    def __init__(self, settings: Settings):
        self.settings = settings
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

    @property
    def active(self) -> int:
        return len(self.sessions)

    @property
    def uploads(self) -> UploadStore:
        return self.services.uploads

    def refusal(self, websocket: WebSocket) -> Optional[tuple[int, str]]:
        """Why this socket may not open a session (close code and reason), or None."""
        if not token_matches(websocket, self.settings.token):
            return CLOSE_UNAUTHORISED, "a valid access token is required (?token=... in the page's address)"
        if not same_origin(websocket):
            return CLOSE_FORBIDDEN, "cross-origin socket refused: open the page from this server"
        if self.active >= self.settings.max_sessions:
            return CLOSE_BUSY, f"the server is busy: {self.settings.max_sessions} sessions are open; try again later"
        return None

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()  # a close code and reason can only be sent on an accepted socket
        refusal = self.refusal(websocket)
        if refusal is not None:
            await websocket.close(*refusal)
            return
        session = Session(websocket, self.services)
        self.sessions.add(session)
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
