"""/api/clients: Leshan's ClientServlet. Registrations, and every device management operation
by endpoint name, answered in Leshan's JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from ..core.content_format import ContentFormat
from ..core.errors import InvalidRequest, ResponseCode
from ..core.nodes import (
    Lwm2mObject,
    MultiResource,
    Node,
    ObjectInstance,
    ResourceInstance,
    SingleResource,
)
from ..core.paths import Lwm2mPath
from ..core.requests import Operation, Response, parse_attributes
from ..server import Lwm2mServer, Queued
from .errors import ApiError, json_body
from .keys import SERVICE
from .leshan import (
    content_format,
    node_from_json,
    node_json,
    registration_json,
    response_json,
    text_node,
)

routes = web.RouteTableDef()
CLIENT = "/api/clients/{ep}"
PATH = CLIENT + "/{path:[0-9]+(?:/[0-9]*)*}"
MAX_TIMEOUT = 3600


def _server(request: web.Request) -> Lwm2mServer:
    return request.app[SERVICE].server


def _path(request: web.Request) -> Lwm2mPath:
    return Lwm2mPath.parse(request.match_info["path"])


def _timeout(request: web.Request) -> float | None:
    raw = request.query.get("timeout")
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_TIMEOUT:
        raise InvalidRequest(f"timeout must be whole seconds in 1..{MAX_TIMEOUT}, not {raw!r}")
    return float(raw)


def _answer(request: web.Request, operation: Operation, path: Lwm2mPath | None,
            outcome: Response | Queued,
            requested: Sequence[Lwm2mPath] = ()) -> web.Response:  # fmt: skip
    if isinstance(outcome, Queued):
        delayed: dict[str, Any] = {"ep": request.match_info["ep"]}
        if path is not None:
            delayed["path"] = str(path)
        delayed.update(requestId=str(outcome.request_id), delayed=True)
        return web.json_response(delayed)
    if outcome.timed_out:
        raise TimeoutError
    return web.json_response(response_json(operation, outcome, requested))


@routes.get("/api/clients")
async def clients(request: web.Request) -> web.Response:
    """Every registered client (Leshan's registration objects); on a node of several, those
    of every live node (from the database)."""
    server = _server(request)
    here = {r.endpoint: r for r in server.registrations.all()}
    shaped = [registration_json(r, awake=server.sender.is_awake(r)) for r in here.values()]
    membership = server.membership
    if others := [n.id for n in membership.live if n.id != membership.node.id]:
        async with server.store.transaction() as tx:
            stored = await tx.registrations.all(nodes=others)
        shaped += [registration_json(r) for r in stored if r.endpoint not in here]
    return web.json_response(shaped)


@routes.get(CLIENT)
async def client(request: web.Request) -> web.Response:
    """One registered client."""
    server = _server(request)
    registration = await server.registration(request.match_info["ep"])
    return web.json_response(registration_json(registration,
                                               awake=server.sender.is_awake(registration)))


def _composite_format(request: web.Request) -> ContentFormat:
    """`nodeformat` (else `pathformat`): SENML_CBOR (the default) or SENML_JSON."""
    fmt = (content_format(request.query.get("nodeformat"), "nodeformat")
           or content_format(request.query.get("pathformat"), "pathformat")
           or ContentFormat.SENML_CBOR)  # fmt: skip
    if fmt not in (ContentFormat.SENML_CBOR, ContentFormat.SENML_JSON):
        raise InvalidRequest("composite operations use SENML_CBOR or SENML_JSON")
    return fmt


@routes.get(CLIENT + "/sent")
async def sent_values(request: web.Request) -> web.Response:
    """The last value of each path the device sent (Send, /dp), with when it arrived (ms)."""
    server = _server(request)
    registration = await server.registration(request.match_info["ep"])
    sent = await server.sent.of(registration.endpoint)
    return web.json_response({str(path): {"node": node_json(value.node),
                                          "time": int(value.at * 1000)}
                              for path, value in sent.items()})  # fmt: skip


@routes.get(CLIENT + "/composite")
async def read_composite(request: web.Request) -> web.Response:
    """Read-Composite: `?paths=/3/0/0,/1/0` with `nodeformat` SENML_CBOR (default) or
    SENML_JSON."""
    paths = _composite_paths(request)
    outcome = await _server(request).read_composite(
        request.match_info["ep"], list(paths), _composite_format(request), _timeout(request))
    return _answer(request, Operation.READ_COMPOSITE, None, outcome, paths)


@routes.put(CLIENT + "/composite")
async def write_composite(request: web.Request) -> web.Response:
    """Write-Composite: a JSON map of resource or resource instance paths to Leshan nodes,
    e.g. {"/1/0/1": {"id": 1, "kind": "singleResource", "type": "integer", "value": 60}}."""
    body = await json_body(request)
    if not isinstance(body, dict) or not body:
        raise InvalidRequest("a composite write body maps one or more paths to nodes, e.g. "
                             '{"/1/0/1": {"id": 1, "kind": "singleResource", "value": 60}}')
    server = _server(request)
    nodes: dict[Lwm2mPath, Node] = {}
    for raw, element in body.items():
        path = Lwm2mPath.parse(raw)
        if not (path.is_resource or path.is_resource_instance):
            raise InvalidRequest(f"composite write targets resources or resource instances, "
                                 f"not {path}")  # fmt: skip
        node = node_from_json(element, path, server.model)
        _check_matches(node, path)
        nodes[path] = node
    outcome = await server.write_composite(request.match_info["ep"], nodes,
                                           _composite_format(request), _timeout(request))
    return _answer(request, Operation.WRITE_COMPOSITE, None, outcome)


def _composite_paths(request: web.Request) -> list[Lwm2mPath]:
    raw = request.query.get("paths", "")
    paths = [Lwm2mPath.parse(p) for p in raw.split(",") if p.strip()]
    if not paths:
        raise InvalidRequest("paths must list one or more LwM2M paths, e.g. ?paths=/3/0/0,/1/0")
    return paths


@routes.post(CLIENT + "/composite/observe")
async def observe_composite(request: web.Request) -> web.Response:
    """Observe-Composite `?paths=/1/0/1,/3/0/11/0`: notifications arrive as NOTIFICATION
    events of kind "composite" on /api/event."""
    paths = _composite_paths(request)
    outcome = await _server(request).observe(request.match_info["ep"], paths,
                                             _composite_format(request), _timeout(request))
    return _answer(request, Operation.OBSERVE_COMPOSITE, None, outcome, paths)


@routes.delete(CLIENT + "/composite/observe")
async def cancel_composite_observation(request: web.Request) -> web.Response:
    """Cancel an Observe-Composite of exactly these `paths`; `?active` also tells the device
    (FETCH with Observe=1)."""
    paths = _composite_paths(request)
    return await _cancel(request, paths, f"composite observation of {','.join(map(str, paths))}")


async def _cancel(request: web.Request, target: Lwm2mPath | list[Lwm2mPath],
                  what: str) -> web.Response:  # fmt: skip
    """Cancel an observation: passive (200, nothing sent), or with `?active` the device's
    answer; 404 when there is none."""
    endpoint = request.match_info["ep"]
    active = "active" in request.query
    outcome = await _server(request).cancel_observation(endpoint, target, active=active,
                                                        timeout=_timeout(request))
    if outcome.code is ResponseCode.NOT_FOUND and not outcome.timed_out and outcome.error \
            and outcome.error.startswith("no observation"):  # fmt: skip
        raise ApiError(404, f"no {what} for client '{endpoint}'")
    if not active:
        return web.Response(status=200)
    if isinstance(target, list):
        return _answer(request, Operation.OBSERVE_COMPOSITE, None, outcome, target)
    return _answer(request, Operation.OBSERVE, target, outcome)


@routes.get(PATH + "/discover")
async def discover(request: web.Request) -> web.Response:
    """Discover: the object, instance or resource's links and attributes."""
    path = _path(request)
    outcome = await _server(request).discover(request.match_info["ep"], path, _timeout(request))
    return _answer(request, Operation.DISCOVER, path, outcome)


@routes.put(PATH + "/attributes")
async def write_attributes(request: web.Request) -> web.Response:
    """Write-Attributes: `?pmin=10&pmax=60`; a name without a value unsets it."""
    path = _path(request)
    pairs = [(k, v) for k, v in request.query.items() if k != "timeout"]
    try:
        attributes = parse_attributes(pairs)
    except InvalidRequest as exc:
        raise ApiError(400, f"Invalid attributes: {exc}") from None
    outcome = await _server(request).write_attributes(request.match_info["ep"], path,
                                                      attributes, _timeout(request))
    return _answer(request, Operation.WRITE_ATTRIBUTES, path, outcome)


@routes.post(PATH + "/observe")
async def observe(request: web.Request) -> web.Response:
    """Observe: notifications arrive as NOTIFICATION events on /api/event."""
    path = _path(request)
    fmt = content_format(request.query.get("format"))
    outcome = await _server(request).observe(request.match_info["ep"], path, fmt,
                                             _timeout(request))  # fmt: skip
    return _answer(request, Operation.OBSERVE, path, outcome)


@routes.delete(PATH + "/observe")
async def cancel_observation(request: web.Request) -> web.Response:
    """Cancel an observation; `?active` also tells the device (Observe=1)."""
    path = _path(request)
    return await _cancel(request, path, f"observation for path {path}")


@routes.get(PATH)
async def read(request: web.Request) -> web.Response:
    """Read: `?format=` TLV, TEXT, OPAQUE, JSON, SENML_JSON, SENML_CBOR or CBOR."""
    path = _path(request)
    fmt = content_format(request.query.get("format"))
    outcome = await _server(request).read(request.match_info["ep"], path, fmt,
                                          _timeout(request))  # fmt: skip
    return _answer(request, Operation.READ, path, outcome)


@routes.put(PATH)
async def write(request: web.Request) -> web.Response:
    """Write a Leshan JSON node (or a text/plain value); `?replace=false` is a partial
    update of an instance."""
    path = _path(request)
    if len(path.ids) < 2:
        raise InvalidRequest(f"write needs an instance, resource or resource instance path, "
                             f"not {path}")  # fmt: skip
    server = _server(request)
    node = await _body_node(request, path, server)
    _check_matches(node, path)
    replace = request.query.get("replace", "true").lower()
    if replace not in ("true", "false"):
        raise InvalidRequest(f"replace must be true or false, not {replace!r}")
    if replace == "false" and isinstance(node, (SingleResource, ResourceInstance)):
        raise InvalidRequest("a partial update (replace=false) targets an instance or a "
                             "multiple resource")  # fmt: skip
    outcome = await server.write(request.match_info["ep"], path, node,
                                 replace=replace == "true",
                                 content_format=content_format(request.query.get("format")),
                                 timeout=_timeout(request))  # fmt: skip
    return _answer(request, Operation.WRITE, path, outcome)


@routes.post(PATH)
async def execute_or_create(request: web.Request) -> web.Response:
    """Execute /O/I/R (the body, if any, is the argument list), or Create in /O
    (the body is a Leshan JSON instance)."""
    path = _path(request)
    server = _server(request)
    endpoint = request.match_info["ep"]
    if path.is_resource:
        arguments = (await request.read()).decode("utf-8")
        if not arguments.isprintable():
            raise InvalidRequest("execute arguments must be printable text, e.g. 0='a',1")
        outcome = await server.execute(endpoint, path, arguments, _timeout(request))
        return _answer(request, Operation.EXECUTE, path, outcome)
    if not (path.is_object or path.is_object_instance):
        raise InvalidRequest(f"POST {path}: execute needs /O/I/R, create /O or /O/I")
    node = node_from_json(await json_body(request), path, server.model)
    if not isinstance(node, ObjectInstance):
        raise InvalidRequest("a create body must be an object instance "
                             '({"kind": "instance", "id": .., "resources": [..]})')  # fmt: skip
    if path.is_object_instance and node.id != path.instance_id:
        raise InvalidRequest(f"the body's instance id {node.id} is not the path's {path}")
    target = Lwm2mPath.of(int(path.object_id or 0))
    outcome = await server.create(endpoint, target, node,
                                  content_format(request.query.get("format")),
                                  _timeout(request))  # fmt: skip
    return _answer(request, Operation.CREATE, path, outcome)


@routes.delete(PATH)
async def delete(request: web.Request) -> web.Response:
    """Delete an object instance."""
    path = _path(request)
    outcome = await _server(request).delete(request.match_info["ep"], path, _timeout(request))
    return _answer(request, Operation.DELETE, path, outcome)


async def _body_node(request: web.Request, path: Lwm2mPath, server: Lwm2mServer) -> Node:
    media = request.content_type
    if media == "application/json":
        return node_from_json(await json_body(request), path, server.model)
    if media == "text/plain":
        return text_node(await request.text(), path, server.model)
    raise InvalidRequest(f"content type {media!r} is not supported; send application/json "
                         "(a Leshan node) or text/plain (one value)")  # fmt: skip


def _check_matches(node: Node, path: Lwm2mPath) -> None:
    expected: tuple[type, ...]
    if path.is_resource_instance:
        expected, node_id = (ResourceInstance,), path.resource_instance_id
    elif path.is_resource:
        expected, node_id = (SingleResource, MultiResource), path.resource_id
    elif path.is_object_instance:
        expected, node_id = (ObjectInstance,), path.instance_id
    else:
        expected, node_id = (Lwm2mObject,), path.object_id
    if not isinstance(node, expected):
        raise InvalidRequest(f"path {path} and node kind {type(node).__name__} do not match")
    if node.id != node_id:
        raise InvalidRequest(f"path {path} and node id {node.id} do not match")
