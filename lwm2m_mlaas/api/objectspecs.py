"""GET /api/objectspecs: the object models the server knows, from objects/ (Leshan's form)."""

from __future__ import annotations

from aiohttp import web

from ..core.ddf import objectspec_json
from .keys import SERVICE

routes = web.RouteTableDef()


@routes.get("/api/objectspecs")
async def objectspecs(request: web.Request) -> web.Response:
    """Every object model (DDF) the server knows."""
    model = request.app[SERVICE].server.model
    return web.json_response([objectspec_json(m) for m in sorted(model, key=lambda m: m.id)])


@routes.get("/api/objectspecs/{ep}")
async def client_objectspecs(request: web.Request) -> web.Response:
    """The object models of the objects a registered client announced."""
    server = request.app[SERVICE].server
    registration = await server.registration(request.match_info["ep"])
    announced = set(registration.object_versions) | set(registration.available_instances)
    found = (server.model.object(o) for o in sorted(announced))
    return web.json_response([objectspec_json(m) for m in found if m is not None])
