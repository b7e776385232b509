"""Where the files the app serves live: the page under frontend/ and Plotly's bundle inside the
installed plotly package (never copied into the repository, never fetched from a CDN)."""
from __future__ import annotations

import importlib.util
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
