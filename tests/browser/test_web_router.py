"""The web app's files as `entrypoints/web/router.py` serves them (no browser needed)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import FileResponse

from tradehall.entrypoints.web import openapi
from tradehall.entrypoints.web import router as web


def _dist(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>app</title>")
    for page in ("fallback", "desk"):
        (dist / f"{page}.html").write_text(f"<!doctype html><title>{page}</title>")
    (dist / "assets" / "index-abc.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("outside")
    return dist


def test_serve_when_file_is_built_answers_it_cached_for_a_year(tmp_path: Path) -> None:
    response = web.serve(_dist(tmp_path), "assets/index-abc.js")

    assert isinstance(response, FileResponse)
    assert Path(response.path).name == "index-abc.js"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_serve_when_path_is_an_app_route_answers_index_revalidated(tmp_path: Path) -> None:
    response = web.serve(_dist(tmp_path), "orders/123")

    assert isinstance(response, FileResponse)
    assert Path(response.path).name == "index.html"
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(("path", "page"), [
    ("fallback.html", "fallback.html"), ("desk.html", "desk.html"),
    ("fallback", "fallback.html"), ("desk", "desk.html"), ("desk/queue/42", "desk.html"),
    ("fallback/", "fallback.html"), ("fallbacks", "index.html"), ("index.html", "index.html"),
])
def test_serve_when_path_names_a_page_answers_that_page_revalidated(
        tmp_path: Path, path: str, page: str) -> None:
    response = web.serve(_dist(tmp_path), path)

    assert isinstance(response, FileResponse)
    assert Path(response.path).name == page
    assert response.headers["cache-control"] == "no-cache"


def test_serve_when_a_page_was_not_built_answers_index(tmp_path: Path) -> None:
    dist = _dist(tmp_path)
    (dist / "desk.html").unlink()

    response = web.serve(dist, "desk")

    assert isinstance(response, FileResponse)
    assert Path(response.path).name == "index.html"


def test_serve_when_path_leaves_the_build_folder_answers_index_not_the_file(
        tmp_path: Path) -> None:
    response = web.serve(_dist(tmp_path), "../secret.txt")

    assert isinstance(response, FileResponse)
    assert Path(response.path).name == "index.html"


@pytest.mark.parametrize("path", ["a\x00b", "x" * 5000, "assets/../../secret.txt"])
def test_serve_when_path_is_odd_answers_index_never_an_error(tmp_path: Path, path: str) -> None:
    response = web.serve(_dist(tmp_path), path)

    assert isinstance(response, FileResponse)
    assert Path(response.path).name == "index.html"


def test_serve_when_app_is_not_built_answers_503_saying_how_to_build(tmp_path: Path) -> None:
    response = web.serve(tmp_path / "missing", "")

    assert response.status_code == 503
    assert b"dev.py run" in bytes(response.body)


async def test_root_when_requested_redirects_to_the_app() -> None:
    app = FastAPI()
    app.include_router(web.router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        root = await client.get("/")
        bare = await client.get("/app")

    assert (root.status_code, root.headers["location"]) == (307, "/app/")
    assert (bare.status_code, bare.headers["location"]) == (307, "/app/")


def test_openapi_dump_when_run_writes_the_api_description_the_types_come_from(
        tmp_path: Path) -> None:
    out = tmp_path / "openapi.json"

    code = openapi.main([str(out)])

    assert code == 0
    document = json.loads(out.read_text())
    assert "/v1/orders" in document["paths"]
    assert "OrderPublic" in document["components"]["schemas"]
    assert not any(path.startswith("/app") for path in document["paths"])
