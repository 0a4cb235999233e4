"""GET /api/openapi.json: an OpenAPI 3.1 document built from the routes themselves, so it
cannot drift from them (summaries are the handlers' docstrings)."""

from __future__ import annotations

import inspect
import re
from importlib.metadata import version
from typing import Any

from aiohttp import web

from .auth import ALWAYS_GUARDED

_PARAMETER = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def openapi_routes() -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/api/openapi.json")
    async def openapi(request: web.Request) -> web.Response:
        """This document."""
        return web.json_response(document(request.app))

    return routes


def document(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        raw = info.get("formatter") or info.get("path")
        if raw is None or route.method == "HEAD" or not raw.startswith("/api/"):
            continue  # (the dashboard's pages are no API)
        path = _PARAMETER.sub(r"{\1}", raw)
        doc = inspect.getdoc(route.handler) or ""
        summary, _, description = doc.partition("\n\n")
        operation: dict[str, Any] = {
            "summary": " ".join(summary.split()),
            "operationId": f"{route.method.lower()}_{route.handler.__name__}",
            "tags": [_tag(path)],
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _PARAMETER.findall(raw)
            ],
            "responses": _responses(path),
        }
        if description:
            operation["description"] = description
        if _guarded(route.method, path):
            operation["security"] = [{"bearer": []}]
        paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lwm2m-mlaas REST API",
            "version": version("lwm2m-mlaas"),
            "description": "Eclipse Leshan demo-server routes (/api/clients, /api/event, "
            "/api/security, /api/objectspecs) and the mlaas routes (/api/mlaas).",
        },
        "paths": dict(sorted(paths.items())),
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def _tag(path: str) -> str:
    return "mlaas" if path.startswith("/api/mlaas") else "leshan"


def _guarded(method: str, path: str) -> bool:
    return method not in ("GET", "HEAD") or path.startswith(ALWAYS_GUARDED)


def _responses(path: str) -> dict[str, Any]:
    if path == "/api/event":
        return {"200": {"description": "text/event-stream"}}
    responses: dict[str, Any] = {
        "200": {"description": "success", "content": {"application/json": {}}},
        "400": {"description": "invalid request or unknown client"},
        "401": {"description": "missing or wrong bearer token"},
    }
    if path.startswith("/api/clients/{ep}/"):
        responses["504"] = {"description": "the device did not answer in time"}
    return responses
