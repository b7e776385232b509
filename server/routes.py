"""HTTP routes and the socket route. They translate requests into calls on the Hub and the
catalog and their answers into responses; nothing is computed here."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.types import Scope

from . import catalog
from .assets import FRONTEND_DIR, plotly_bundle_gzipped, plotly_bundle_path
from .hub import Hub
from .security import Access, Refused
from .settings import Settings
from .tokens import Holder
from .uploads import UploadError, read_upload


def get_hub(connection: HTTPConnection) -> Hub:
    return connection.app.state.hub


def get_settings(connection: HTTPConnection) -> Settings:
    return connection.app.state.settings


HubDep = Annotated[Hub, Depends(get_hub)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def require_token(connection: HTTPConnection) -> Holder:
    """Who the request is (by its token): 401 without a right one, 429 while its address is throttled."""
    access: Access = connection.app.state.access
    try:
        return access.admit(connection)
    except Refused as refused:
        raise HTTPException(refused.status, refused.detail, headers=refused.headers) from None


HolderDep = Annotated[Holder, Depends(require_token)]
authorised = [Depends(require_token)]
router = APIRouter()


@router.get("/api/health")
async def health(request: Request, hub: HubDep, settings: SettingsDep) -> dict:
    return {"status": "ok", "device": request.app.state.device, "version": catalog.version(),
            "sessions": hub.active, "max_sessions": settings.max_sessions}


@router.get("/api/presets", dependencies=authorised)
async def presets() -> dict:
    return catalog.presets()


@router.get("/api/schema", dependencies=authorised)
async def schema() -> dict:
    return catalog.schema()


@router.post("/api/cost", dependencies=authorised)
async def cost(request: Request, hub: HubDep, settings: SettingsDep, holder: HolderDep) -> dict:
    """What a partial config would cost (predicted memory, seconds per step) against this server's
    per-session budget; 422 naming the knob for a config that does not validate."""
    raw = await _json_body(request, COST_BODY_BYTES)
    try:
        return catalog.cost(raw, settings.session_memory_mb, hub.uploads_of(holder), settings.max_step_seconds)
    except ValueError as error:  # ConfigError: the config, or its data_file handle, is refused by name
        raise HTTPException(422, str(error)) from None


@router.post("/api/upload", dependencies=authorised)
async def upload(request: Request, hub: HubDep, settings: SettingsDep, holder: HolderDep) -> dict:
    try:
        samples = await read_upload(request, settings.max_upload_bytes, settings.max_upload_rows)
    except UploadError as error:
        raise HTTPException(error.status, error.detail, headers=error.headers) from None
    return {"handle": hub.uploads_of(holder).add(samples), "rows": samples.shape[0], "dim": samples.shape[1]}


@router.websocket("/api/ws")
async def training_socket(websocket: WebSocket, hub: HubDep) -> None:
    await hub.serve(websocket)


@router.api_route("/", methods=["GET", "HEAD"], dependencies=authorised, include_in_schema=False)
async def index() -> FileResponse:
    return _file(FRONTEND_DIR / "index.html", "text/html", "the page is not installed (frontend/index.html)")


@router.api_route("/vendor/plotly.min.js", methods=["GET", "HEAD"], include_in_schema=False)
async def plotly_bundle(request: Request) -> Response:
    """Compressed once per process (assets.plotly_bundle_gzipped), revalidated by ETag (304 on a match)."""
    bundle = await run_in_threadpool(plotly_bundle_gzipped)  # the first call reads and compresses 4.8 MB
    if bundle is None:
        raise HTTPException(404, "plotly.min.js is not in the installed plotly package")
    headers = {"Cache-Control": "no-cache", "ETag": bundle.etag, "Vary": "Accept-Encoding"}
    if bundle.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(bundle.gzipped, media_type="text/javascript", headers={**headers, "Content-Encoding": "gzip"})
    return FileResponse(plotly_bundle_path(), media_type="text/javascript", headers=headers)


COST_BODY_BYTES = 65_536  # a config is ~1 KB; the socket's messages have the same bound


async def _json_body(request: Request, limit: int):
    """The request's JSON body, read up to `limit` bytes: 413 past it, 422 when it is not JSON."""
    declared = request.headers.get("content-length", "")
    if declared and (not declared.isdigit() or len(declared) > 18 or int(declared) > limit):
        raise HTTPException(413, f"the body is {declared[:20]} bytes; the limit is {limit}")
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise HTTPException(413, f"the body is over {limit} bytes, the limit")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise HTTPException(422, "the body must be JSON: an object of knob names to values") from None


def _file(path: Path | None, media_type: str, missing: str) -> FileResponse:
    if path is None or not path.is_file():
        raise HTTPException(404, missing)
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})


class PageGuardedStaticFiles(StaticFiles):
    """frontend/ under /static, where an HTML page (/static/index.html, however spelled) needs the token as
    / does; scripts, styles and icons do not (the page loads them without its query)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path.lower().endswith((".html", ".htm")):  # `path` is normalised: './', '//', '%69' resolved
            await require_token(HTTPConnection(scope))
        return await super().get_response(path, scope)
