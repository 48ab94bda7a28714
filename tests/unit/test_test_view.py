"""The page's test view (window.avatarChat) is on the page, and served, only when asked for."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from config import Settings
from serve_app.page import TEST_VIEW, index_response, static_routes

pytestmark = pytest.mark.unit


def client(*, test_view: bool) -> TestClient:
    async def index(request):
        return index_response(test_view=test_view)

    routes = [Route("/", index), *static_routes(test_view=test_view)]
    return TestClient(Starlette(routes=routes))


def test_off_by_default_neither_on_the_page_nor_served() -> None:
    assert Settings.load({}, env={}).server.test_view is False
    with client(test_view=False) as http:
        page = http.get("/").text
        assert TEST_VIEW not in page and "static/app.js" in page
        assert http.get(f"/static/{TEST_VIEW}").status_code == 404
        assert http.get("/static/app.js").status_code == 200  # the rest is served as ever


def test_on_it_loads_before_the_app_that_calls_its_hook() -> None:
    with client(test_view=True) as http:
        page = http.get("/").text
        assert page.index(f"static/{TEST_VIEW}") < page.index("static/app.js")
        script = http.get(f"/static/{TEST_VIEW}")
        assert script.status_code == 200 and "window.__avatarChatTestView" in script.text
        assert "javascript" in script.headers["content-type"]
