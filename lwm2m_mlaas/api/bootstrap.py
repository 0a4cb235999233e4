"""/api/bootstrap: bootstrap configurations in the form of Leshan's bootstrap server demo
(BootstrapServlet), and /api/mlaas/bootstrap: how each endpoint's last bootstrap went."""

from __future__ import annotations

from aiohttp import web

from ..core.bootstrap import BootstrapConfig
from .errors import ApiError, json_body
from .keys import SERVICE

routes = web.RouteTableDef()


@routes.get("/api/bootstrap")
async def bootstrap_configs(request: web.Request) -> web.Response:
    """Every endpoint's bootstrap config, by endpoint name."""
    async with request.app[SERVICE].store.transaction() as tx:
        records = await tx.bootstrap.all()
    return web.json_response({r.endpoint: r.config.to_json() for r in records})


@routes.get("/api/bootstrap/{ep}")
async def bootstrap_config(request: web.Request) -> web.Response:
    """One endpoint's bootstrap config."""
    endpoint = request.match_info["ep"]
    async with request.app[SERVICE].store.transaction() as tx:
        record = await tx.bootstrap.get(endpoint)
    if record is None:
        raise ApiError(404, f"no config for {endpoint}")
    return web.json_response(record.config.to_json())


@routes.post("/api/bootstrap/{ep}")
async def put_bootstrap_config(request: web.Request) -> web.Response:
    """Add or replace an endpoint's bootstrap config (Leshan's BootstrapConfig JSON). The
    bootstrap-server entry's PSK is the device's factory credential; an empty uri stands for
    the service (the DM server: the endpoint's node; the bootstrap server: the node it moves to
    if that one dies), and a DM server entry with an empty PSK gets one generated when the
    device first bootstraps."""
    endpoint = request.match_info["ep"]
    config = BootstrapConfig.from_json(await json_body(request))
    server = request.app[SERVICE].server
    async with server.store.transaction() as tx:
        await tx.bootstrap.put(endpoint, config)
    server.credentials.put_bootstrap(endpoint, config.bootstrap_psk())
    server.credentials.changed(endpoint)
    return web.Response(status=200)


@routes.delete("/api/bootstrap/{ep}")
async def delete_bootstrap_config(request: web.Request) -> web.Response:
    endpoint = request.match_info["ep"]
    server = request.app[SERVICE].server
    async with server.store.transaction() as tx:
        removed = await tx.bootstrap.remove(endpoint)
    if not removed:
        raise ApiError(404, f"no config for {endpoint}")
    server.credentials.put_bootstrap(endpoint, None)
    server.credentials.changed(endpoint)
    return web.Response(status=204)


@routes.get("/api/mlaas/bootstrap")
async def bootstrap_states(request: web.Request) -> web.Response:
    """Per endpoint: its bootstrap identity, its LwM2M servers and its last bootstrap."""
    async with request.app[SERVICE].store.transaction() as tx:
        records = await tx.bootstrap.all()
    return web.json_response([{
        "endpoint": r.endpoint,
        "identity": (r.config.bootstrap_psk() or (None,))[0],
        "servers": [e["uri"] or "(this server)" for e in r.config.dm_security().values()],
        "last_bootstrap": r.last_bootstrap,
        "last_result": r.last_result,
    } for r in records])  # fmt: skip
