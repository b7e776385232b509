"""The app factory: `uvicorn --factory server.app:create_app`, or create_app(Settings(...)) in tests."""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Optional

import torch
from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from models.trainer import resolve_device

from . import catalog, errors, routes
from .assets import FRONTEND_DIR
from .hub import Hub
from .memory import capacity_warning
from .security import Access, SecurityMiddleware, install_log_redaction, warn_if_exposed
from .settings import Settings, is_loopback


log = logging.getLogger("uvicorn.error")


def create_app(settings: Optional[Settings] = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        install_log_redaction()  # uvicorn's request lines carry ?token=...
        warn_if_exposed(settings)  # non-loopback without a token or a Host allowlist: said loudly
        # a room (not loopback) whose budgets add up to more than this machine's memory
        capacity = None if is_loopback(settings.host) else capacity_warning(settings)
        if capacity is not None:
            log.warning("memory budgets: %s", capacity)
        # one intra-op thread per session thread: with many sessions on few cores, more threads only
        # make them wait on each other (and on a busy 2-core machine, slow every step down)
        torch.set_num_threads(settings.torch_threads)
        app.state.device = resolve_device(settings.device).type  # fails fast on NCE_DEVICE=cuda without CUDA
        app.state.hub = Hub(settings, app.state.access)
        try:
            yield
        finally:
            app.state.hub.close()

    app = FastAPI(title="NCE Playground", version=catalog.version(), lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.access = Access(settings)  # reads NCE_STUDENT_TOKENS: a bad file stops the app here
    # gzip for every HTTP response over 1 KB the client accepts it for: the 4.8 MB Plotly bundle goes out
    # as ~1.4 MB (a room of 40 laptops on one Wi-Fi). Level 6: nearly level 9's size at a third of its CPU.
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=6)
    app.add_middleware(SecurityMiddleware, allowed_hosts=settings.host_allowlist())
    errors.install(app)
    app.include_router(routes.router)
    # StaticFiles keeps every request inside frontend/ (normalised paths, no symlinks out)
    app.mount("/static", routes.PageGuardedStaticFiles(directory=FRONTEND_DIR, check_dir=False), name="static")
    return app
