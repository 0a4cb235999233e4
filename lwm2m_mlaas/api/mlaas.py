"""The mlaas routes under /api/mlaas/: device classes, models, artifacts, deliveries,
assignments, devices and their tags, rollouts, package signing keys and a fleet summary."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from ..compiler.service import UnknownTarget
from ..compiler.targets import load_catalogue
from ..core.fleet import DeviceChange, DeviceRecord
from ..core.registration import Registration
from ..fleet.rollout import SELECTOR_KEYS, RolloutStatus, check_selector, matches
from ..fleet.trust import KeyRefused
from ..zoo import ModelImportError
from ..zoo.variants import VARIANTS
from .errors import ApiError, bad_request, json_body, not_found
from .keys import SERVICE, Services
from .leshan import registration_json
from .peers import PEERS
from .shapes import (
    artifact_json,
    compile_json,
    delivery_json,
    device_class_json,
    device_record_json,
    member_json,
    model_json,
    provision_json,
    rollout_json,
    signing_key_json,
)

routes = web.RouteTableDef()
SCOPES = ("endpoint", "tag", "class")


def _service(request: web.Request) -> Services:
    return request.app[SERVICE]


@routes.get("/api/mlaas/nodes")
async def nodes(request: web.Request) -> web.Response:
    """The live nodes of the service (heartbeat within node_timeout), and which one answers."""
    membership = _service(request).server.membership
    return web.json_response([{"id": n.id, "coapUri": n.coap_uri, "coapsUri": n.coaps_uri,
                               "apiUrl": n.api_url, "started": n.started,
                               "heartbeat": n.heartbeat, "self": n.id == membership.node.id}
                              for n in membership.live])  # fmt: skip


@routes.get("/api/mlaas/classes")
async def classes(request: web.Request) -> web.Response:
    """The device class catalogue."""
    return web.json_response([device_class_json(c) for c in load_catalogue().values()])


@routes.get("/api/mlaas/classes/{name}")
async def device_class(request: web.Request) -> web.Response:
    """One device class."""
    found = load_catalogue().get(request.match_info["name"])
    if found is None:
        raise not_found(f"no device class {request.match_info['name']!r}")
    return web.json_response(device_class_json(found))


@routes.get("/api/mlaas/models")
async def models(request: web.Request) -> web.Response:
    """Zoo variants (built or not) and imported models."""
    zoo = _service(request).compiler.zoo
    listed: list[dict[str, Any]] = []
    for name, variant in VARIANTS.items():
        model = zoo.cached(name)
        listed.append({"name": name, "task": variant.task, "variant": variant.size,
                       "built": model is not None,
                       **({} if model is None else model_json(model))})  # fmt: skip
    listed += [{"built": True, **model_json(m)} for m in zoo.imported()]
    return web.json_response(listed)


@routes.get("/api/mlaas/models/{name}")
async def model(request: web.Request) -> web.Response:
    """One built or imported model."""
    name = request.match_info["name"]
    found = _service(request).compiler.zoo.cached(name)
    if found is None:
        raise not_found(f"model {name!r} is unknown or not built")
    return web.json_response({"built": True, **model_json(found)})


@routes.post("/api/mlaas/models/{name}/build")
async def build_model(request: web.Request) -> web.Response:
    """Train a zoo variant (cached: instant when built); answers when it is built."""
    try:
        built = await _service(request).compiler.build(request.match_info["name"])
    except UnknownTarget as exc:
        raise not_found(str(exc)) from None
    return web.json_response({"built": True, **model_json(built)})


IMPORT_SUFFIXES = {"application/vnd.tflite": ".tflite", "application/octet-stream": ".tflite",
                   "application/vnd.keras": ".keras"}  # fmt: skip


@routes.post("/api/mlaas/models")
async def import_model(request: web.Request) -> web.Response:
    """Import a model: the body is an int8 .tflite (application/octet-stream) or a .keras
    file (application/vnd.keras); `?task=` (required), `?name=`, `?kind=` classification,
    regression or anomaly."""
    task = request.query.get("task")
    if not task:
        raise bad_request("task is required (a zoo task, or any name with kind=)")
    kind = request.query.get("kind")
    if kind not in (None, "classification", "regression", "anomaly"):
        raise bad_request(f"kind {kind!r} is not classification, regression or anomaly")
    suffix = IMPORT_SUFFIXES.get(request.content_type)
    if suffix is None:
        raise bad_request(f"content type {request.content_type!r}: send the model as "
                          "application/octet-stream (.tflite) or application/vnd.keras")
    service = _service(request)
    uploads = service.config.data_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    name = request.query.get("name")
    upload = uploads / f"{name or 'model'}-{secrets.token_hex(4)}{suffix}"
    upload.write_bytes(await request.read())
    try:
        model = await service.compiler.import_model(upload, task, name, kind)
    except ModelImportError as exc:
        raise bad_request(f"import failed: {exc}") from None
    finally:
        upload.unlink(missing_ok=True)
    return web.json_response({"built": True, **model_json(model)}, status=201)


@routes.post("/api/mlaas/compile")
async def compile_target(request: web.Request) -> web.Response:
    """Compile a task or model for a class, {"target", "class"}: the best fitting variant,
    verified and signed, or why none fits; a class with a native runtime it does not prefer
    is compiled for that too, side by side ("backends"). Answers when done (cached: at once)."""
    body = await _json_object(request)
    target, name = _string(body, "target"), _string(body, "class")
    device_class = load_catalogue().get(name)
    if device_class is None:
        raise not_found(f"no device class {name!r}")
    compiler = _service(request).compiler
    try:
        outcomes = await asyncio.gather(*(compiler.compile(target, name, backend)
                                          for backend in device_class.compared_backends))
    except UnknownTarget as exc:
        raise not_found(str(exc)) from None
    return web.json_response(compile_json(outcomes[0], outcomes if len(outcomes) > 1 else ()))


@routes.get("/api/mlaas/artifacts")
async def artifacts(request: web.Request) -> web.Response:
    """Compiled, signed packages; `?class=` and `?task=` filter."""
    async with _service(request).store.transaction() as tx:
        found = await tx.artifacts.all()
    wanted = {k: request.query[k] for k in ("class", "task") if k in request.query}
    listed = [artifact_json(a) for a in found]
    return web.json_response([a for a in listed if all(a[k] == v for k, v in wanted.items())])


@routes.get("/api/mlaas/artifacts/{id}")
async def artifact(request: web.Request) -> web.Response:
    """One artifact's metadata."""
    async with _service(request).store.transaction() as tx:
        found = await tx.artifacts.get(request.match_info["id"])
    if found is None:
        raise not_found(f"no artifact {request.match_info['id']!r}")
    return web.json_response(artifact_json(found))


@routes.get("/api/mlaas/artifacts/{id}/package")
async def artifact_package(request: web.Request) -> web.StreamResponse:
    """The signed package file (COSE_Sign1 manifest + model)."""
    async with _service(request).store.transaction() as tx:
        found = await tx.artifacts.get(request.match_info["id"])
    if found is None or not Path(found.path).is_file():
        raise not_found(f"no package for artifact {request.match_info['id']!r}")
    return web.FileResponse(found.path, headers={
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f'attachment; filename="{found.id}.pkg"'})  # fmt: skip


@routes.get("/api/mlaas/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    """Package deliveries; `?endpoint=`, `?state=` and `?active=true` filter."""
    active = _flag(request, "active")
    async with _service(request).store.transaction() as tx:
        found = await tx.deliveries.all(request.query.get("endpoint"), active=active)
    state = request.query.get("state")
    return web.json_response([delivery_json(d) for d in found if state in (None, d.state)])


@routes.get("/api/mlaas/deliveries/{id}")
async def delivery(request: web.Request) -> web.Response:
    """One delivery."""
    delivery_id = _int(request.match_info["id"], "delivery id")
    async with _service(request).store.transaction() as tx:
        found = await tx.deliveries.get(delivery_id)
    if found is None:
        raise not_found(f"no delivery {delivery_id}")
    return web.json_response(delivery_json(found))


@routes.post("/api/mlaas/deliveries/{id}/cancel")
async def cancel_delivery(request: web.Request) -> web.Response:
    """Cancel an active delivery (the device is told to drop the package)."""
    delivery_id = _int(request.match_info["id"], "delivery id")
    service = _service(request)
    async with service.store.transaction() as tx:
        found = await tx.deliveries.get(delivery_id)
    if found is None:
        raise not_found(f"no delivery {delivery_id}")
    if not found.active:
        raise ApiError(409, f"delivery {delivery_id} is already {found.state}")
    cancelled = await service.deliveries.cancel(delivery_id)
    return web.json_response(delivery_json(cancelled))


@routes.get("/api/mlaas/assignments")
async def assignments(request: web.Request) -> web.Response:
    """Operator choices of model per endpoint, tag or class (most specific wins)."""
    async with _service(request).store.transaction() as tx:
        found = await tx.devices.assignments()
    return web.json_response([{"scope": scope, "value": value, "target": target}
                              for (scope, value), target in sorted(found.items())])  # fmt: skip


@routes.put("/api/mlaas/assignments")
async def assign(request: web.Request) -> web.Response:
    """Body {"scope": "endpoint"|"tag"|"class", "value": ..., "target": task or model}."""
    body = await _json_object(request)
    scope, value, target = (_string(body, k) for k in ("scope", "value", "target"))
    if scope not in SCOPES:
        raise bad_request(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    service = _service(request)
    try:
        service.compiler.task_of(target)
    except LookupError:
        raise bad_request(f"target {target!r} is neither a zoo task nor a model") from None
    async with service.store.transaction() as tx:
        await tx.devices.assign(scope, value, target)
    return web.json_response({"scope": scope, "value": value, "target": target})


@routes.delete("/api/mlaas/assignments/{scope}/{value}")
async def unassign(request: web.Request) -> web.Response:
    """Remove one assignment."""
    scope, value = request.match_info["scope"], request.match_info["value"]
    async with _service(request).store.transaction() as tx:
        removed = await tx.devices.unassign(scope, value)
    if not removed:
        raise not_found(f"no assignment for {scope} {value!r}")
    return web.json_response({"scope": scope, "value": value, "removed": True})


def _device_json(service: Services, registration: Registration,
                 record: DeviceRecord | None) -> dict[str, Any]:  # fmt: skip
    provision = service.provisioning.status.get(registration.endpoint)
    return {"endpoint": registration.endpoint, **device_record_json(record),
            "registration": registration_json(registration),
            "awake": service.server.sender.is_awake(registration),
            "provisioning": None if provision is None else provision_json(provision)}  # fmt: skip


@routes.get("/api/mlaas/devices")
async def devices(request: web.Request) -> web.Response:
    """Registered devices (on every live node) with their class, tags and provisioning stage;
    `?class=`, `?tag=`, `?task=`, `?endpoint=` (a glob) and `?stage=` filter."""
    service = _service(request)
    selector = check_selector({k: v for k, v in request.query.items() if k in SELECTOR_KEYS})
    async with service.store.transaction() as tx:
        records = {d.endpoint: d for d in await tx.devices.all()}
    listed = []
    for registration in service.server.registrations.all():
        record = records.get(registration.endpoint) or DeviceRecord(
            registration.endpoint, None, None, ())
        if not matches(selector, record, service.rollouts.registration_tags(registration.endpoint)):
            continue
        shaped = _device_json(service, registration, record)
        stage = request.query.get("stage")
        if stage is None or (shaped["provisioning"] or {}).get("stage") == stage:
            listed.append(shaped)
    for others in await request.app[PEERS].gather(request):  # the devices of other nodes
        listed += others
    return web.json_response(sorted(listed, key=lambda d: str(d["endpoint"])))


@routes.get("/api/mlaas/devices/{ep}")
async def device(request: web.Request) -> web.Response:
    """One registered device, its deliveries and rollouts."""
    service = _service(request)
    registration = await service.server.registration(request.match_info["ep"])
    async with service.store.transaction() as tx:
        found = await tx.deliveries.all(registration.endpoint)
        record = await tx.devices.get(registration.endpoint)
        memberships = await tx.rollouts.memberships(registration.endpoint)
    return web.json_response({**_device_json(service, registration, record),
                              "deliveries": [delivery_json(d) for d in found],
                              "rollouts": [{"id": r.id, "state": r.state, **member_json(m)}
                                           for r, m in memberships]})  # fmt: skip


@routes.get("/api/mlaas/devices/{ep}/tags")
async def tags(request: web.Request) -> web.Response:
    """The operator's tags of a device (registered or not)."""
    async with _service(request).store.transaction() as tx:
        record = await tx.devices.get(request.match_info["ep"])
    return web.json_response(list(record.tags) if record else [])


@routes.put("/api/mlaas/devices/{ep}/tags")
async def set_tags(request: web.Request) -> web.Response:
    """Replace the device's tags: a JSON list of strings."""
    body = await json_body(request)
    if not isinstance(body, list) or not all(isinstance(t, str) and t for t in body):
        raise bad_request("tags are a JSON list of non-empty strings")
    return await _tags(request, lambda _old: set(body))


@routes.post("/api/mlaas/devices/{ep}/tags/{tag}")
async def add_tag(request: web.Request) -> web.Response:
    """Add one tag."""
    return await _tags(request, lambda old: old | {request.match_info["tag"]})


@routes.delete("/api/mlaas/devices/{ep}/tags/{tag}")
async def remove_tag(request: web.Request) -> web.Response:
    """Remove one tag."""
    return await _tags(request, lambda old: old - {request.match_info["tag"]})


async def _tags(request: web.Request, change: Callable[[set[str]], set[str]]) -> web.Response:
    endpoint = request.match_info["ep"]
    service = _service(request)
    async with service.store.transaction() as tx:
        record = await tx.devices.get(endpoint)
        tags = change(set(record.tags if record else ()))
        record = await tx.devices.record(endpoint, DeviceChange(tags=frozenset(tags)))
    if service.server.registrations.by_endpoint(endpoint) is not None:
        await service.rollouts.join(endpoint)  # a new tag may put it in an active rollout
    return web.json_response(list(record.tags))


# rollouts
@routes.get("/api/mlaas/rollouts")
async def rollouts(request: web.Request) -> web.Response:
    """Every rollout with its counts; `?state=` filters."""
    service = _service(request)
    async with service.store.transaction() as tx:
        found = await tx.rollouts.all()
        shaped = [rollout_json(r, await tx.rollouts.members(r.id)) for r in found]
    state = request.query.get("state")
    return web.json_response([r for r in shaped if state in (None, r["state"])])


@routes.post("/api/mlaas/rollouts")
async def create_rollout(request: web.Request) -> web.Response:
    """Start a rollout: {"target": task or model, "selector": {"class", "tag", "task",
    "endpoint" (glob)}, "name", "canary": devices, "waves": cumulative percentages of the
    rest, "max_concurrent", "failure_threshold": share of finished devices}."""
    body = await _json_object(request)
    target = _string(body, "target")
    selector = body.get("selector", {})
    if not isinstance(selector, dict):
        raise bad_request("selector must be an object")
    waves = body.get("waves", [100])
    if not isinstance(waves, list) or not all(_number(w) for w in waves) or not waves:
        raise bad_request("waves must be a list of percentages, e.g. [25, 100]")
    name = body.get("name", target)
    if not isinstance(name, str):
        raise bad_request("name must be a string")
    status = await _service(request).rollouts.create(
        name, target, selector, canary=_whole(body, "canary", 1), waves=waves,
        max_concurrent=_whole(body, "max_concurrent", 10),
        failure_threshold=_fraction(body, "failure_threshold", 0.1))  # fmt: skip
    return web.json_response(rollout_json(status.rollout, status.members, detailed=True),
                             status=201)


@routes.get("/api/mlaas/rollouts/{id}")
async def rollout(request: web.Request) -> web.Response:
    """One rollout with every device's state, per wave."""
    status = await _rollout_action(request, "status")
    return web.json_response(rollout_json(status.rollout, status.members, detailed=True))


@routes.post("/api/mlaas/rollouts/{id}/{action:pause|resume|abort|rollback}")
async def rollout_action(request: web.Request) -> web.Response:
    """pause, resume (failures so far stop counting), abort (devices done keep the new model)
    or rollback (every device the rollout changed returns to its earlier artifact)."""
    status = await _rollout_action(request, request.match_info["action"])
    return web.json_response(rollout_json(status.rollout, status.members, detailed=True))


async def _rollout_action(request: web.Request, action: str) -> RolloutStatus:
    rollout_id = _int(request.match_info["id"], "rollout id")
    service = _service(request).rollouts
    method = {"status": service.status, "pause": service.pause, "resume": service.resume,
              "abort": service.abort, "rollback": service.rollback}[action]  # fmt: skip
    try:
        return await method(rollout_id)
    except LookupError:
        raise not_found(f"no rollout {rollout_id}") from None


# package signing keys
@routes.get("/api/mlaas/keys")
async def signing_keys(request: web.Request) -> web.Response:
    """Package signing keys, oldest first: id, created, active, retired, how many known
    devices trust each (trusted_by) and trust no other key in use (needed_by)."""
    states = await _service(request).deliveries.trust.states()
    return web.json_response([signing_key_json(s) for s in states])


@routes.post("/api/mlaas/keys/rotate")
async def rotate_key(request: web.Request) -> web.Response:
    """Add a new active signing key; registered devices that take trust statements
    (/32100/0/10) are sent one for it, signed by a key they trust."""
    state = await _service(request).deliveries.trust.rotate()
    return web.json_response(signing_key_json(state), status=201)


@routes.post("/api/mlaas/keys/{kid}/retire")
async def retire_key(request: web.Request) -> web.Response:
    """Sign nothing more with a key. 409 for the active key, and while a known device trusts
    no other key in use, unless `?force=true`."""
    kid = request.match_info["kid"]
    try:
        state = await _service(request).deliveries.trust.retire(kid, force=_flag(request, "force"))
    except LookupError:
        raise not_found(f"no signing key {kid!r}") from None
    except KeyRefused as exc:
        raise ApiError(409, str(exc)) from None
    return web.json_response(signing_key_json(state))


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(body: dict[str, Any], key: str, default: int) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise bad_request(f"{key} must be a non-negative integer")
    return value


def _fraction(body: dict[str, Any], key: str, default: float) -> float:
    value = body.get(key, default)
    if not _number(value) or not 0 <= value < 1:
        raise bad_request(f"{key} must be a number in [0, 1)")
    return float(value)


@routes.get("/api/mlaas/fleet")
async def fleet(request: web.Request) -> web.Response:
    """Counts: devices by class, provisioning stage and running model (of every live node);
    deliveries by state."""
    service = _service(request)
    registrations = service.server.registrations.all()
    status = [service.provisioning.status.get(r.endpoint) for r in registrations]
    async with service.store.transaction() as tx:
        states = Counter(d.state for d in await tx.deliveries.all())
    devices, queue_mode = len(registrations), sum(r.queue_mode for r in registrations)
    tallies: dict[str, Counter[str]] = {
        "classes": Counter(p.device_class for p in status if p and p.device_class),
        "stages": Counter(p.stage if p else "unknown" for p in status),
        "models": Counter(p.model for p in status if p and p.stage == "running" and p.model),
    }
    for others in await request.app[PEERS].gather(request):  # the devices of other nodes
        devices, queue_mode = devices + others["devices"], queue_mode + others["queue_mode"]
        for key, tally in tallies.items():
            tally.update(others[key])
    return web.json_response({"devices": devices, "queue_mode": queue_mode, **tallies,
                              "deliveries": dict(states), "time": time.time()})  # fmt: skip


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise bad_request(f"{name} must be true or false, not {value!r}")
    return value in ("true", "1")


def _int(text: str, what: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise bad_request(f"{what} must be a non-negative integer, not {text!r}")
    return int(text)


async def _json_object(request: web.Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    return body


def _string(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise bad_request(f"{key!r} must be a non-empty string")
    return value
