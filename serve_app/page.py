"""The web client's page and static files; the test view only when the settings ask for it."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

__all__ = ["STATIC", "TEST_VIEW", "index_html", "index_response", "static_routes"]

STATIC = Path(__file__).resolve().parent / "static"
TEST_VIEW = "test-view.js"
_APP_SCRIPT = '<script type="module" src="static/app.js"></script>'


def index_html(*, test_view: bool) -> str:
    """index.html, with the test view's script before app.js (which calls its hook) when on."""
    page = (STATIC / "index.html").read_text()
    if not test_view:
        return page
    view = f'<script type="module" src="static/{TEST_VIEW}"></script>'
    return page.replace(_APP_SCRIPT, f"{view}\n    {_APP_SCRIPT}", 1)


def static_routes(*, test_view: bool) -> list[BaseRoute]:
    """``/static/*``; ``/static/test-view.js`` answers 404 unless ``test_view``."""

    async def view(request: Request) -> Response:
        if test_view:
            return FileResponse(STATIC / TEST_VIEW, media_type="text/javascript")
        return PlainTextResponse("Not Found", status_code=404)

    return [
        Route(f"/static/{TEST_VIEW}", view),  # matched before the mount below
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def index_response(*, test_view: bool) -> HTMLResponse:
    return HTMLResponse(index_html(test_view=test_view))
