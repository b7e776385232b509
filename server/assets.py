"""Where the files the app serves live: the page under frontend/ and Plotly's bundle inside the
installed plotly package (never copied into the repository, never fetched from a CDN)."""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

FRONTEND_DIR = Path(__file__).resolve().parent.parent / "frontend"  # a sibling package, in a checkout or a wheel


@lru_cache(maxsize=1)
def plotly_bundle_path() -> Optional[Path]:
    spec = importlib.util.find_spec("plotly")  # located, not imported: importing plotly is slow
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"


@dataclass(frozen=True)
class CompressedBundle:
    gzipped: bytes  # the bundle gzipped once per process (level 9: done once, so the smallest)
    etag: str       # a strong validator of the bundle's bytes: a page reload revalidates, gets 304


@lru_cache(maxsize=1)
def plotly_bundle_gzipped() -> Optional[CompressedBundle]:
    """Plotly's bundle compressed once: gzipping its 4.8 MB per request cost the server ~0.2 s of CPU
    per page load (a room of 40 loading the page at once: 8 s of one core)."""
    path = plotly_bundle_path()
    if path is None or not path.is_file():
        return None
    raw = path.read_bytes()
    return CompressedBundle(gzip.compress(raw, compresslevel=9, mtime=0),
                            '"' + hashlib.sha256(raw).hexdigest()[:32] + '"')
