"""/api/security/clients: per-endpoint DTLS-PSK or OSCORE credentials in the database
(Leshan's SecurityServlet and its JSON)."""

from __future__ import annotations

from aiohttp import web

from ..core.security import OscoreInfo, SecurityInfo
from .errors import ApiError, json_body
from .keys import SERVICE
from .leshan import security_from_json, security_json

routes = web.RouteTableDef()


@routes.get("/api/security/clients")
async def security_infos(request: web.Request) -> web.Response:
    """Every endpoint's PSK or OSCORE credentials."""
    async with request.app[SERVICE].store.transaction() as tx:
        infos: list[SecurityInfo | OscoreInfo] = list(await tx.security.all())
        infos += [info for info, _ in await tx.oscore.all()]
    return web.json_response([security_json(i) for i in sorted(infos, key=lambda i: i.endpoint)])


@routes.get("/api/security/clients/{ep}")
async def security_info(request: web.Request) -> web.Response:
    """One endpoint's PSK or OSCORE credentials."""
    async with request.app[SERVICE].store.transaction() as tx:
        info: SecurityInfo | OscoreInfo | None = await tx.security.get(request.match_info["ep"])
        if info is None:
            info = await tx.oscore.get(request.match_info["ep"])
    if info is None:
        raise ApiError(404, f"no security info for endpoint '{request.match_info['ep']}'")
    return web.json_response(security_json(info))


@routes.put("/api/security/clients")
@routes.put("/api/security/clients/")
async def put_security_info(request: web.Request) -> web.Response:
    """Add or replace an endpoint's credentials: {"endpoint", "tls": {"mode": "psk",
    "details": {"identity", "key" (hex)}}} or {"endpoint", "oscore": {"sid" (the server's),
    "rid" (the device's), "msec", "msalt"} (hex)}. An identity or rid belongs to one endpoint."""
    info = security_from_json(await json_body(request))
    server = request.app[SERVICE].server
    async with server.store.transaction() as tx:
        if isinstance(info, OscoreInfo):
            await tx.oscore.put(info)
        else:
            await tx.security.put(info)
    if isinstance(info, OscoreInfo):
        server.credentials.put_oscore(info)
    else:
        server.credentials.put(info)
    server.credentials.changed(info.endpoint)
    return web.Response(status=200)


@routes.delete("/api/security/clients/{ep}")
async def delete_security_info(request: web.Request) -> web.Response:
    """Remove an endpoint's credentials (200 with {"message": "not_found"} when it had
    none, as Leshan answers)."""
    server = request.app[SERVICE].server
    async with server.store.transaction() as tx:
        removed = await tx.security.remove(request.match_info["ep"])
        removed |= await tx.oscore.remove(request.match_info["ep"])
    server.credentials.remove(request.match_info["ep"])
    server.credentials.changed(request.match_info["ep"])
    return web.Response(status=200) if removed else web.json_response({"message": "not_found"})
