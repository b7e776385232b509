"""Error answers: validation problems as 422 with a readable `detail` string (like the socket's
error messages), and a catch-all that logs a bug and answers without leaking internals."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from models.config import MAX_PROBLEMS

from .security import SECURITY_HEADERS
from .wire import bounded_text

log = logging.getLogger(__name__)


async def validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
    """The problems, counted past MAX_PROBLEMS and cut to a few KB: never longer than a small constant."""
    problems = error.errors()
    messages = []
    for item in problems[:MAX_PROBLEMS]:
        where = ".".join(str(part)[:40] for part in item.get("loc", ()) if part != "body") or "request"
        messages.append(f"{where}: {item.get('msg', 'invalid')}")
    if len(problems) > MAX_PROBLEMS:
        messages.append(f"and {len(problems) - MAX_PROBLEMS:,} more problems")
    return JSONResponse({"detail": bounded_text("; ".join(messages))}, status_code=422)


async def unexpected_error(request: Request, _error: Exception) -> JSONResponse:
    # answered by Starlette's outermost middleware, past SecurityMiddleware: add the headers here
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal error (logged on the server)"}, status_code=500,
                        headers=SECURITY_HEADERS)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
