"""Serve the built web app: `/` and `/app` redirect to `/app/`, files from `dist/`.

The build has three pages: the trading app (`index.html`), the fallback page for users
(`fallback.html`) and the dealing desk (`desk.html`). `/app/fallback` and `/app/desk` (and any
path below them) answer their page; any other path under `/app/` that is not a built file
answers `index.html`, so the app's own routes survive a reload. Paths are resolved and must
stay inside `dist/` (no traversal). Hashed assets are cached for a year; the pages are
revalidated on every load so a rebuild shows at once. When the app was never built, `/app/`
says how to build it instead of a bare 404.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

DIST = Path(__file__).resolve().parent / "dist"
_NOT_BUILT = ("<!doctype html><title>tradehall</title><p>The web app is not built. "
              "<code>python3 dev.py run</code> builds it (or <code>npm ci && npm run build"
              "</code> in <code>web/</code>).</p>")

router = APIRouter(include_in_schema=False)
PAGES = frozenset({"fallback", "desk"})
"""Pages of their own: `/app/<name>` and below answer `<name>.html`."""


@router.get("/")
async def root() -> RedirectResponse:
    """Send a browser to the trading app."""
    return RedirectResponse("/app/", status_code=307)


@router.get("/app")
async def app_without_slash() -> RedirectResponse:
    """Relative asset URLs need the trailing slash."""
    return RedirectResponse("/app/", status_code=307)


@router.get("/app/{path:path}")
async def app_file(path: str) -> Response:
    """A built file, or the app's index.html for the app's own routes."""
    return serve(DIST, path)


def serve(dist: Path, path: str) -> Response:
    """Answer one path under the app from a build folder."""
    index = dist / "index.html"
    if not index.is_file():
        return HTMLResponse(_NOT_BUILT, status_code=503)
    root = dist.resolve()
    try:
        candidate = (root / path).resolve()
        found = bool(path) and candidate.is_relative_to(root) and candidate.is_file()
    except (OSError, ValueError):  # a NUL byte or an over-long name: no such file
        found = False
    if found:
        cache = ("public, max-age=31536000, immutable" if candidate.parent.name == "assets"
                 else "no-cache")
        return FileResponse(candidate, headers={"Cache-Control": cache})
    page = dist / f"{path.split('/', 1)[0]}.html"
    if path.split("/", 1)[0] in PAGES and page.is_file():
        return FileResponse(page, headers={"Cache-Control": "no-cache"})
    return FileResponse(index, headers={"Cache-Control": "no-cache"})
