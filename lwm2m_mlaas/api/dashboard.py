"""The dashboard: static pages served by `mlaas serve` at /ui/ (api/static/), reading the REST
API with the operator's token (kept in the browser's session storage, sent as a bearer token)
and following /api/event."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).parent / "static"
UI_ROUTES = "/ui/"
"""The pages and their assets: no data in them, so no token."""


def is_page(path: str) -> bool:
    """The home redirect, the pages and their assets."""
    return path in ("/", UI_ROUTES[:-1]) or path.startswith(UI_ROUTES)


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def _home(request: web.Request) -> web.Response:
    return web.Response(status=302, headers={"Location": UI_ROUTES})


def dashboard_routes() -> list[web.AbstractRouteDef]:
    return [web.get("/", _home), web.get("/ui", _home), web.get(UI_ROUTES, _index),
            web.static(UI_ROUTES + "static", STATIC)]  # fmt: skip
