"""HTTP routes and the socket route. They translate requests into calls on the Hub and the
catalog and their answers into responses; nothing is computed here."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from . import catalog
from .assets import FRONTEND_DIR, plotly_bundle_gzipped, plotly_bundle_path
from .hub import Hub
from .security import token_matches
from .settings import Settings
from .uploads import UploadError, read_upload


def get_hub(connection: HTTPConnection) -> Hub:
    return connection.app.state.hub


def get_settings(connection: HTTPConnection) -> Settings:
    return connection.app.state.settings


HubDep = Annotated[Hub, Depends(get_hub)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def require_token(request: Request, settings: SettingsDep) -> None:
    if not token_matches(request, settings.token):
        raise HTTPException(401, "a valid access token is required (?token=... or the X-NCE-Token header)")


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


@router.post("/api/upload", dependencies=authorised)
async def upload(request: Request, hub: HubDep, settings: SettingsDep) -> dict:
    try:
        samples = await read_upload(request, settings.max_upload_bytes, settings.max_upload_rows)
    except UploadError as error:
        raise HTTPException(error.status, error.detail) from None
    return {"handle": hub.uploads.add(samples), "rows": samples.shape[0], "dim": samples.shape[1]}


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


def _file(path: Path | None, media_type: str, missing: str) -> FileResponse:
    if path is None or not path.is_file():
        raise HTTPException(404, missing)
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})
