"""Eclipse Leshan demo server JSON (2.0): registrations, LwM2M nodes, responses and events.

Leshan writes INTEGER, UNSIGNED_INTEGER and FLOAT values as strings, OPAQUE as lowercase hex,
TIME as epoch milliseconds and OBJLNK as an object; node ids are numbers, multi-resource keys
strings."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..core.codecs.text import parse_value
from ..core.content_format import ContentFormat
from ..core.errors import InvalidRequest, ResponseCode
from ..core.linkformat import Link, format_attribute_value
from ..core.model import ObjectRegistry
from ..core.nodes import (
    Lwm2mObject,
    MultiResource,
    Node,
    ObjectInstance,
    ObjectLink,
    ResourceInstance,
    ResourceType,
    SingleResource,
    Value,
)
from ..core.paths import Lwm2mPath
from ..core.registration import Registration
from ..core.requests import Operation, Response
from ..core.security import (
    AES_CCM_16_64_128,
    HKDF_SHA_256,
    OscoreInfo,
    OscoreSetting,
    SecurityInfo,  # fmt: skip
)
from ..server import Event, EventKind
from .shapes import delivery_json, provision_json

# ---- registrations --------------------------------------------------------------------------


def java_host(host: str) -> str:
    """An address as Java's InetAddress.getHostAddress writes it (IPv6 uncompressed, no
    brackets)."""
    bare, percent, scope = host.partition("%")
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return host
    if address.version == 4:
        return str(address)
    groups = ":".join(f"{int(group, 16):x}" for group in address.exploded.split(":"))
    return groups + percent + scope


def link_json(link: Link) -> dict[str, Any]:
    return {"url": link.target,
            "attributes": {name: None if value is None else format_attribute_value(name, value)
                           for name, value in link.attributes.items()}}  # fmt: skip


def registration_json(r: Registration, *, awake: bool | None = None) -> dict[str, Any]:
    """Leshan's registration object; `sleeping` appears for queue-mode clients only."""
    shaped: dict[str, Any] = {
        "endpoint": r.endpoint,
        "registrationId": r.id,
        "registrationDate": int(r.registration_date * 1000),
        "lastUpdate": int(r.last_update * 1000),
        "address": f"{java_host(r.host)}:{r.port}",
    }
    if r.sms:
        shaped["smsNumber"] = r.sms
    shaped.update({
        "lwM2mVersion": r.lwm2m_version,
        "lifetime": r.lifetime,
        "bindingMode": r.binding + ("Q" if r.queue_mode and r.lwm2m_version == "1.0" else ""),
        "rootPath": r.root_path,
        "objectLinks": [link_json(link) for link in r.object_links],
        "secure": r.secure,
        "additionalRegistrationAttributes": dict(r.additional_attributes),
        "queuemode": r.queue_mode,
        "availableInstances": {str(o): list(i) for o, i in r.available_instances.items() if i},
    })  # fmt: skip
    if r.queue_mode:
        shaped["sleeping"] = not awake if awake is not None else False
    return shaped


def registration_update_json(r: Registration, previous: Registration | None,
                             objects_changed: bool) -> dict[str, Any]:  # fmt: skip
    """Leshan's RegistrationUpdate: what an Update changed."""
    shaped: dict[str, Any] = {"registrationId": r.id, "address": f"{java_host(r.host)}:{r.port}"}
    if r.sms:
        shaped["smsNumber"] = r.sms
    if previous is None or previous.lifetime != r.lifetime:
        shaped["lifetime"] = r.lifetime
    if objects_changed:
        shaped["objectLinks"] = [link_json(link) for link in r.object_links]
    shaped["secure"] = r.secure
    shaped["additionalAttributes"] = dict(r.additional_attributes)
    return shaped


# ---- values and nodes -----------------------------------------------------------------------

TYPE_NAMES = {
    ResourceType.STRING: "STRING", ResourceType.INTEGER: "INTEGER",
    ResourceType.UNSIGNED_INTEGER: "UNSIGNED_INTEGER", ResourceType.FLOAT: "FLOAT",
    ResourceType.BOOLEAN: "BOOLEAN", ResourceType.OPAQUE: "OPAQUE", ResourceType.TIME: "TIME",
    ResourceType.OBJLNK: "OBJLNK", ResourceType.CORELNK: "CORELINK", ResourceType.NONE: "NONE",
}  # fmt: skip
_TYPES = {name: type_ for type_, name in TYPE_NAMES.items()}


def java_double(value: float) -> str:
    """Java's Double.toString: '1.0', '0.001', '1.0E7', '1.5E-4'."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    digits, exponent = _shortest_digits(magnitude)
    if 1e-3 <= magnitude < 1e7:
        point = exponent + 1
        if point <= 0:
            text = "0." + "0" * -point + digits
        elif point >= len(digits):
            text = digits + "0" * (point - len(digits)) + ".0"
        else:
            text = digits[:point] + "." + digits[point:]
        return sign + text
    mantissa = digits[0] + "." + (digits[1:] or "0")
    return f"{sign}{mantissa}E{exponent}"


def _shortest_digits(magnitude: float) -> tuple[str, int]:
    """Shortest round-trip significant digits and the decimal exponent of the first one."""
    text = repr(magnitude)
    if "e" in text:
        mantissa, _, exp = text.partition("e")
        digits = mantissa.replace(".", "")
        return digits.rstrip("0") or "0", int(exp)
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0")
    if whole != "0":
        digits = (whole + fraction).rstrip("0")
        return digits, len(whole) - 1
    stripped = fraction.lstrip("0")
    return stripped, -(len(fraction) - len(stripped)) - 1


def value_json(value: Value, type_: ResourceType) -> Any:
    match type_:
        case ResourceType.INTEGER | ResourceType.UNSIGNED_INTEGER:
            return str(int(value))  # type: ignore[arg-type]
        case ResourceType.FLOAT:
            return java_double(float(value))  # type: ignore[arg-type]
        case ResourceType.BOOLEAN:
            return bool(value)
        case ResourceType.OPAQUE | ResourceType.NONE:
            return bytes(value).hex()  # type: ignore[arg-type]
        case ResourceType.TIME:
            return int(value.timestamp() * 1000) if isinstance(value, datetime) \
                else int(value) * 1000  # type: ignore[arg-type]  # fmt: skip
        case ResourceType.OBJLNK:
            link = value if isinstance(value, ObjectLink) else ObjectLink(0xFFFF, 0xFFFF)
            return {"objectId": link.object_id, "objectInstanceId": link.instance_id,
                    "nullLink": (link.object_id, link.instance_id) == (0xFFFF, 0xFFFF)}  # fmt: skip
        case _:
            return str(value)


def node_json(node: Node) -> dict[str, Any]:
    match node:
        case Lwm2mObject():
            return {"id": node.id, "kind": "obj",
                    "instances": [node_json(i) for _, i in sorted(node.instances.items())]}
        case ObjectInstance():
            return {"id": node.id, "kind": "instance",
                    "resources": [node_json(r) for _, r in sorted(node.resources.items())]}
        case SingleResource():
            return {"id": node.id, "kind": "singleResource", "type": TYPE_NAMES[node.type],
                    "value": value_json(node.value, node.type)}
        case MultiResource():
            return {"id": node.id, "kind": "multiResource", "type": TYPE_NAMES[node.type],
                    "values": {str(k): value_json(v, node.type)
                               for k, v in sorted(node.instances.items())}}
        case ResourceInstance():
            return {"id": node.id, "kind": "resourceInstance", "type": TYPE_NAMES[node.type],
                    "value": value_json(node.value, node.type)}
    raise TypeError(f"not a node: {node!r}")  # pragma: no cover


def _id(raw: Any, where: str, *, required: bool = True, highest: int = 65535,
        what: str = "'id'") -> int | None:  # fmt: skip
    """An id given as a number or a string of digits (Leshan reads both)."""
    if raw is None and not required:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise InvalidRequest(f"{where}: {what} must be an integer")
    text = str(raw)
    if not (text.isascii() and text.isdigit()) or int(text) > highest:
        raise InvalidRequest(f"{where}: {what} {raw!r} is not an id in 0..{highest}")
    return int(text)


def value_from_json(raw: Any, type_: ResourceType, path: Lwm2mPath) -> Value:
    """A JSON value of `type_` (lenient where Leshan's reader is: numbers as strings)."""
    where = str(path)

    def wrong(expected: str) -> InvalidRequest:
        return InvalidRequest(f"{where}: a {type_.value} value must be {expected}, "
                              f"not {type(raw).__name__} {raw!r}"[:200])  # fmt: skip

    match type_:
        case ResourceType.STRING | ResourceType.CORELNK:
            if not isinstance(raw, str):
                raise wrong("a string")
            return raw
        case ResourceType.BOOLEAN:
            if not isinstance(raw, bool):
                raise wrong("true or false")
            return raw
        case ResourceType.INTEGER | ResourceType.UNSIGNED_INTEGER:
            if isinstance(raw, bool) or not isinstance(raw, (int, str, float)):
                raise wrong("an integer or a string of digits")
            if isinstance(raw, float):
                if not raw.is_integer():
                    raise wrong("an integer")
                raw = int(raw)
            return parse_value(str(raw), type_, path)
        case ResourceType.FLOAT:
            if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
                raise wrong("a number or a numeric string")
            return parse_value(str(raw), type_, path)
        case ResourceType.TIME:
            if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (
                    isinstance(raw, float) and not raw.is_integer()):  # fmt: skip
                raise wrong("a whole number of milliseconds since the epoch")
            try:
                return datetime.fromtimestamp(int(raw) / 1000, UTC)
            except (OverflowError, OSError, ValueError):
                raise wrong("a time in range") from None
        case ResourceType.OPAQUE | ResourceType.NONE:
            if not isinstance(raw, str):
                raise wrong("a hexadecimal string")
            try:
                return bytes.fromhex(raw)
            except ValueError:
                raise wrong("a hexadecimal string") from None
        case ResourceType.OBJLNK:
            if not isinstance(raw, dict):
                raise wrong('{"objectId": .., "objectInstanceId": ..}')
            object_id = _id(raw.get("objectId"), where, what="objectId")
            instance_id = _id(raw.get("objectInstanceId"), where, what="objectInstanceId")
            return ObjectLink(int(object_id or 0), int(instance_id or 0))
    raise wrong("a supported type")  # pragma: no cover


def _type(element: Mapping[str, Any], model_type: ResourceType | None,
          where: str) -> ResourceType:  # fmt: skip
    raw = element.get("type")
    if raw is None:
        if model_type is None:
            raise InvalidRequest(f"{where}: 'type' is missing and the resource is not in the "
                                 "object model")  # fmt: skip
        return model_type
    if not isinstance(raw, str) or raw.upper() not in _TYPES:
        raise InvalidRequest(f"{where}: unknown type {raw!r} (one of {', '.join(_TYPES)})")
    return _TYPES[raw.upper()]


def _coerce(value: Value, given: ResourceType, wanted: ResourceType | None,
            path: Lwm2mPath) -> tuple[ResourceType, Value]:  # fmt: skip
    """The value as the model's type where the JSON named a compatible one."""
    if wanted is None or wanted == given:
        return given, value
    if given is ResourceType.STRING and isinstance(value, str):
        return wanted, parse_value(value, wanted, path)
    if isinstance(value, int) and not isinstance(value, bool) and wanted in (
            ResourceType.INTEGER, ResourceType.UNSIGNED_INTEGER, ResourceType.FLOAT):
        converted: Value = float(value) if wanted is ResourceType.FLOAT else value
        return wanted, parse_value(str(converted), wanted, path)
    raise InvalidRequest(f"{path}: the value is {given.value} but the object model says "
                         f"{wanted.value}")  # fmt: skip


def node_from_json(element: Any, path: Lwm2mPath, model: ObjectRegistry) -> Node:
    """A node from Leshan's JSON for the target `path` (the node's own id completes it)."""
    where = str(path)
    if not isinstance(element, dict):
        raise InvalidRequest(f"{where}: a node must be a JSON object")
    kind = element.get("kind")
    if kind == "obj" or "instances" in element:
        object_id = _id(element.get("id"), where)
        instances = element.get("instances")
        if not isinstance(instances, list):
            raise InvalidRequest(f"{where}: 'instances' must be a list")
        obj_path = Lwm2mPath.of(int(object_id or 0))
        return Lwm2mObject.of(int(object_id or 0), *(
            _instance(i, obj_path, model, None) for i in instances))  # fmt: skip
    if kind == "instance" or "resources" in element:
        if path.object_id is None:
            raise InvalidRequest("an instance is written to or created in an object path")
        return _instance(element, Lwm2mPath.of(path.object_id), model, path.instance_id)
    if kind not in (None, "singleResource", "multiResource", "resourceInstance"):
        raise InvalidRequest(f"{where}: unknown node kind {kind!r}")
    resource_id = _id(element.get("id"), where)
    assert resource_id is not None
    if path.resource_id is not None:
        base = path if kind != "resourceInstance" or path.is_resource else path.parent
    else:
        base = path.child(resource_id) if path.is_object_instance else path
    object_id = path.object_id
    resource_model = None if object_id is None or base.resource_id is None else \
        model.resource(object_id, base.resource_id)  # fmt: skip
    model_type = None if resource_model is None else resource_model.type
    type_ = _type(element, model_type, where)
    if kind == "multiResource" or "values" in element:
        values = element.get("values")
        if not isinstance(values, dict):
            raise InvalidRequest(f"{where}: 'values' must be an object of instance id to value")
        parsed = {}
        final = type_
        for key, raw in values.items():
            final, parsed[int(_id(key, where) or 0)] = _coerce(
                value_from_json(raw, type_, base), type_, model_type, base)
        return MultiResource(resource_id, final, parsed)
    if "value" not in element:
        raise InvalidRequest(f"{where}: a resource node needs 'value' or 'values'")
    final, value = _coerce(value_from_json(element["value"], type_, base), type_, model_type,
                           base)  # fmt: skip
    if kind == "resourceInstance":
        return ResourceInstance(resource_id, final, value)
    return SingleResource(resource_id, final, value)


def _instance(element: Any, object_path: Lwm2mPath, model: ObjectRegistry,
              default_id: int | None) -> ObjectInstance:  # fmt: skip
    where = str(object_path)
    if not isinstance(element, dict):
        raise InvalidRequest(f"{where}: an instance must be a JSON object")
    instance_id = _id(element.get("id"), where, required=False, highest=65534)
    if instance_id is None:
        instance_id = default_id
    if instance_id is None:
        raise InvalidRequest(f"{where}: the instance needs an 'id'")
    resources = element.get("resources", [])
    if not isinstance(resources, list):
        raise InvalidRequest(f"{where}: 'resources' must be a list")
    path = object_path.child(instance_id)
    nodes = [node_from_json(r, path, model) for r in resources]
    if any(isinstance(n, (Lwm2mObject, ObjectInstance, ResourceInstance)) for n in nodes):
        raise InvalidRequest(f"{where}: an instance holds resources only")
    resources_by_id = {n.id: n for n in nodes}
    if len(resources_by_id) != len(nodes):
        raise InvalidRequest(f"{where}: a resource id appears twice")
    return ObjectInstance(instance_id, resources_by_id)  # type: ignore[arg-type]


def text_node(text: str, path: Lwm2mPath, model: ObjectRegistry) -> Node:
    """A text/plain write body: one resource or resource instance value."""
    if path.resource_id is None:
        raise InvalidRequest(f"{path}: a text/plain body writes one resource")
    resource = model.resource(int(path.object_id or 0), path.resource_id)
    if resource is not None and resource.multiple and path.is_resource:
        raise InvalidRequest(f"{path}: a text/plain body writes one resource instance of a "
                             "multiple resource (/O/I/R/RI)")  # fmt: skip
    type_ = resource.type if resource else ResourceType.STRING
    if type_ is ResourceType.OPAQUE:
        try:
            value: Value = base64.b64decode(text, validate=True)
        except binascii.Error:
            raise InvalidRequest(f"{path}: an opaque text body must be base64") from None
    else:
        value = parse_value(text, type_, path)
    if path.is_resource_instance:
        return ResourceInstance(int(path.resource_instance_id or 0), type_, value)
    return SingleResource(path.resource_id, type_, value)


# ---- responses ------------------------------------------------------------------------------

_LESHAN_CODES = frozenset({
    ResponseCode.CREATED, ResponseCode.DELETED, ResponseCode.CHANGED, ResponseCode.CONTENT,
    ResponseCode.BAD_REQUEST, ResponseCode.UNAUTHORIZED, ResponseCode.FORBIDDEN,
    ResponseCode.NOT_FOUND, ResponseCode.METHOD_NOT_ALLOWED, ResponseCode.NOT_ACCEPTABLE,
    ResponseCode.REQUEST_ENTITY_INCOMPLETE, ResponseCode.PRECONDITION_FAILED,
    ResponseCode.REQUEST_ENTITY_TOO_LARGE, ResponseCode.UNSUPPORTED_CONTENT_FORMAT,
    ResponseCode.INTERNAL_SERVER_ERROR,
})  # fmt: skip
_SUCCESS = {
    Operation.READ: {ResponseCode.CONTENT}, Operation.DISCOVER: {ResponseCode.CONTENT},
    Operation.READ_COMPOSITE: {ResponseCode.CONTENT},
    Operation.WRITE_COMPOSITE: {ResponseCode.CHANGED},
    Operation.OBSERVE_COMPOSITE: {ResponseCode.CONTENT},
    Operation.OBSERVE: {ResponseCode.CONTENT, ResponseCode.CHANGED},
    Operation.WRITE: {ResponseCode.CHANGED}, Operation.EXECUTE: {ResponseCode.CHANGED},
    Operation.WRITE_ATTRIBUTES: {ResponseCode.CHANGED}, Operation.CREATE: {ResponseCode.CREATED},
    Operation.DELETE: {ResponseCode.DELETED},
}  # fmt: skip
_ALWAYS_VALID = {ResponseCode.BAD_REQUEST, ResponseCode.UNAUTHORIZED, ResponseCode.NOT_FOUND,
                 ResponseCode.METHOD_NOT_ALLOWED, ResponseCode.INTERNAL_SERVER_ERROR}
_ALSO_VALID = {
    Operation.READ: {ResponseCode.NOT_ACCEPTABLE},
    Operation.WRITE: {ResponseCode.REQUEST_ENTITY_INCOMPLETE,
                      ResponseCode.REQUEST_ENTITY_TOO_LARGE,
                      ResponseCode.UNSUPPORTED_CONTENT_FORMAT},
    Operation.CREATE: {ResponseCode.UNSUPPORTED_CONTENT_FORMAT},
    Operation.READ_COMPOSITE: {ResponseCode.NOT_ACCEPTABLE,
                               ResponseCode.UNSUPPORTED_CONTENT_FORMAT},
    Operation.OBSERVE_COMPOSITE: {ResponseCode.NOT_ACCEPTABLE,
                                  ResponseCode.UNSUPPORTED_CONTENT_FORMAT},
    Operation.WRITE_COMPOSITE: {ResponseCode.REQUEST_ENTITY_INCOMPLETE,
                                ResponseCode.REQUEST_ENTITY_TOO_LARGE,
                                ResponseCode.UNSUPPORTED_CONTENT_FORMAT},
}  # fmt: skip


def status_text(code: ResponseCode) -> str:
    """'CONTENT(205)'; codes Leshan has no name for are 'UNKNOWN(nnn)'."""
    number = f"{code.value >> 5}{code.value & 0x1F:02d}"
    return f"{code.name}({number})" if code in _LESHAN_CODES else f"UNKNOWN({number})"


def composite_json(nodes: Mapping[Lwm2mPath, Node],
                   requested: Sequence[Lwm2mPath] = ()) -> dict[str, Any]:  # fmt: skip
    """Composite content keyed by path; a requested root is one "root" node holding every
    object (the paths present only because of it), as Leshan shows it. Absent paths are left
    out, never null."""
    content: dict[str, Any] = {}
    root = any(p.is_root for p in requested)
    if root:
        objects = [node_json(n) for p, n in nodes.items() if p.is_object and p not in requested]
        content["/"] = {"kind": "root", "objects": objects}
    content.update((str(p), node_json(n)) for p, n in nodes.items()
                   if not root or p in requested)  # fmt: skip
    return content


def response_json(operation: Operation, response: Response,
                  requested: Sequence[Lwm2mPath] = ()) -> dict[str, Any]:  # fmt: skip
    success = response.code in _SUCCESS[operation]
    valid = success or response.code in _ALWAYS_VALID | _ALSO_VALID.get(operation, set())
    shaped: dict[str, Any] = {"status": status_text(response.code), "valid": valid,
                              "success": success, "failure": not success}  # fmt: skip
    if response.nodes is not None:
        shaped["content"] = composite_json(response.nodes, requested)
    elif response.node is not None:
        shaped["content"] = node_json(response.node)
    if response.links is not None:
        shaped["objectLinks"] = [link_json(link) for link in response.links]
    if response.location is not None:
        shaped["location"] = response.location
    if not success and response.error:
        shaped["errormessage"] = response.error
    return shaped


def content_format(name: str | None, what: str = "format") -> ContentFormat | None:
    """A `format` query value (Leshan's names, any case); None when absent."""
    if name is None or name == "":
        return None
    try:
        return ContentFormat.by_name(name)
    except ValueError:
        raise InvalidRequest(f"unknown {what} {name!r}; one of TLV, TEXT, OPAQUE, JSON, "
                             "SENML_JSON, SENML_CBOR, CBOR, LWM2M_CBOR, LINK") from None


# ---- security -------------------------------------------------------------------------------


def security_json(info: SecurityInfo | OscoreInfo) -> dict[str, Any]:
    if isinstance(info, OscoreInfo):
        o = info.setting
        return {"endpoint": info.endpoint,
                "oscore": {"sid": o.sender_id.hex(), "rid": o.recipient_id.hex(),
                           "msec": o.master_secret.hex(), "msalt": o.master_salt.hex(),
                           "aead": o.aead, "hkdf": o.hkdf}}  # fmt: skip
    return {"endpoint": info.endpoint,
            "tls": {"mode": "psk", "details": {"identity": info.identity,
                                               "key": info.key.hex()}}}  # fmt: skip


def security_from_json(body: Any) -> SecurityInfo | OscoreInfo:
    """Leshan 2's forms {"endpoint", "tls": {"mode": "psk", "details": {identity, key}}} and
    {"endpoint", "oscore": {sid, rid, msec, msalt?, aead?, hkdf?}} (hex; sid is the server's
    Sender ID, rid the device's); the older {"endpoint", "psk": {identity, key}} too."""
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    endpoint = body.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise InvalidRequest("'endpoint' must be a non-empty string")
    if "oscore" in body:
        return OscoreInfo(endpoint, _oscore_setting(body["oscore"]))
    if "tls" in body:
        tls = body["tls"]
        if not isinstance(tls, dict) or tls.get("mode") != "psk":
            mode = tls.get("mode") if isinstance(tls, dict) else tls
            raise InvalidRequest(f"tls mode {mode!r} is not supported; only 'psk' is")
        details = tls.get("details")
    elif "psk" in body:
        details = body["psk"]
    else:
        raise InvalidRequest("the security info needs 'tls' (mode psk) or 'oscore'")
    if not isinstance(details, dict):
        raise InvalidRequest("PSK details must be an object with 'identity' and 'key'")
    identity, key = details.get("identity"), details.get("key")
    if not isinstance(identity, str) or not isinstance(key, str):
        raise InvalidRequest("PSK 'identity' and 'key' (hex) must be strings")
    return SecurityInfo.psk(endpoint, identity, key)


def _oscore_setting(data: Any) -> OscoreSetting:
    if not isinstance(data, dict):
        raise InvalidRequest("'oscore' must be an object with 'sid', 'rid' and 'msec'")
    values: dict[str, bytes] = {}
    for name in ("sid", "rid", "msec", "msalt"):
        text = data.get(name, "" if name == "msalt" else None)
        if not isinstance(text, str):
            raise InvalidRequest(f"OSCORE '{name}' must be a hex string")
        try:
            values[name] = bytes.fromhex(text)
        except ValueError:
            raise InvalidRequest(f"OSCORE '{name}' must be a hex string") from None
    aead, hkdf = data.get("aead", AES_CCM_16_64_128), data.get("hkdf", HKDF_SHA_256)
    if not isinstance(aead, int) or not isinstance(hkdf, int):
        raise InvalidRequest("OSCORE 'aead' and 'hkdf' are COSE algorithm numbers")
    return OscoreSetting(values["sid"], values["rid"], values["msec"], values["msalt"], aead,
                         hkdf)  # fmt: skip


# ---- server-sent events ---------------------------------------------------------------------


def sse_event(event: Event, is_awake: Callable[[Registration], bool]) -> tuple[str, Any] | None:
    """The (event name, data) Leshan's EventServlet sends for a server event, or None."""
    registration, data = event.registration, event.data
    endpoint = registration.endpoint
    match event.kind:
        case EventKind.REGISTRATION:
            return "REGISTRATION", registration_json(registration, awake=True)
        case EventKind.UPDATED:
            return "UPDATED", {
                "registration": registration_json(registration, awake=is_awake(registration)),
                "update": registration_update_json(registration, data.get("previous"),
                                                   bool(data.get("objectsChanged")))}  # fmt: skip
        case EventKind.DEREGISTRATION | EventKind.EXPIRED:
            if data.get("replaced"):
                return None
            return "DEREGISTRATION", registration_json(registration, awake=False)
        case EventKind.AWAKE | EventKind.SLEEPING:
            return event.kind.value, {"ep": endpoint}
        case EventKind.NOTIFICATION:
            response: Response = data["response"]
            if data.get("paths"):
                if response.nodes is None:
                    return None
                paths = data["paths"]
                return "NOTIFICATION", {"ep": endpoint, "kind": "composite",
                                        "val": composite_json(response.nodes, paths),
                                        "paths": [str(p) for p in paths]}  # fmt: skip
            if response.node is None:
                return None
            return "NOTIFICATION", {"ep": endpoint, "kind": "single", "res": str(data["path"]),
                                    "val": node_json(response.node)}  # fmt: skip
        case EventKind.SEND:
            return "SEND", {"ep": endpoint, "val": composite_json(data["nodes"])}
        case EventKind.REQUEST_RESPONSE:
            request = data["request"]
            return "REQUEST_RESPONSE", {
                "ep": endpoint, "path": str(request.path), "requestId": str(data["request_id"]),
                "delayed": True, "response": response_json(request.operation, data["response"])}
        case EventKind.PROVISIONING:
            return "PROVISIONING", provisioning_json(endpoint, data)
    return None


def provisioning_json(endpoint: str, data: Mapping[str, Any]) -> dict[str, Any]:
    if "delivery" in data:
        return {"ep": endpoint, "stage": "delivery", "state": data["state"],
                "delivery": delivery_json(data["delivery"])}  # fmt: skip
    return {"ep": endpoint, **provision_json(data["provision"])}
