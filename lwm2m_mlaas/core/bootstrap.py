"""Bootstrap configurations in the JSON form of Leshan's bootstrap server (BootstrapConfig):
what the bootstrap server deletes and writes on a device's Security (0), Server (1) and OSCORE
(21) objects. Pure values; the byte fields read as int arrays or base64, write as int arrays."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidPath, InvalidRequest
from .nodes import ObjectInstance, ObjectLink, ResourceType, SingleResource, Value
from .paths import Lwm2mPath

SECURITY_MODES = {"PSK": 0, "RPK": 1, "X509": 2, "NO_SEC": 3, "EST": 4}
SMS_SECURITY_MODES = {"RESERVED": 0, "SPS_DEVICE": 1, "SPS_SMARTCARD": 2, "NO_SEC": 3,
                      "PROPRIETARY": 255}  # fmt: skip
T = ResourceType


@dataclass(frozen=True)
class Field:
    name: str
    resource: int
    type: ResourceType
    choices: Mapping[str, int] | None = None
    """Enum names (JSON) to the integer the resource holds."""


SECURITY_FIELDS = (
    Field("uri", 0, T.STRING), Field("bootstrapServer", 1, T.BOOLEAN),
    Field("securityMode", 2, T.INTEGER, SECURITY_MODES), Field("publicKeyOrId", 3, T.OPAQUE),
    Field("serverPublicKey", 4, T.OPAQUE), Field("secretKey", 5, T.OPAQUE),
    Field("smsSecurityMode", 6, T.INTEGER, SMS_SECURITY_MODES),
    Field("smsBindingKeyParam", 7, T.OPAQUE), Field("smsBindingKeySecret", 8, T.OPAQUE),
    Field("serverSmsNumber", 9, T.STRING), Field("serverId", 10, T.INTEGER),
    Field("clientOldOffTime", 11, T.INTEGER), Field("bootstrapServerAccountTimeout", 12, T.INTEGER),
    Field("oscoreSecurityMode", 17, T.OBJLNK),
)  # fmt: skip
SERVER_FIELDS = (
    Field("shortId", 0, T.INTEGER), Field("lifetime", 1, T.INTEGER),
    Field("defaultMinPeriod", 2, T.INTEGER), Field("defaultMaxPeriod", 3, T.INTEGER),
    Field("disableTimeout", 5, T.INTEGER), Field("notifIfDisabled", 6, T.BOOLEAN),
    Field("binding", 7, T.STRING),
)  # fmt: skip
OSCORE_FIELDS = (
    Field("oscoreMasterSecret", 0, T.OPAQUE), Field("oscoreSenderId", 1, T.OPAQUE),
    Field("oscoreRecipientId", 2, T.OPAQUE), Field("oscoreAeadAlgorithm", 3, T.INTEGER),
    Field("oscoreHmacAlgorithm", 4, T.INTEGER), Field("oscoreMasterSalt", 5, T.OPAQUE),
)  # fmt: skip
SECURITY_DEFAULTS = {"uri": "", "bootstrapServer": False, "publicKeyOrId": b"",
                     "serverPublicKey": b"", "secretKey": b"", "smsSecurityMode": "NO_SEC",
                     "smsBindingKeyParam": b"", "smsBindingKeySecret": b"", "serverSmsNumber": "",
                     "clientOldOffTime": 1, "bootstrapServerAccountTimeout": 0}  # fmt: skip
SERVER_DEFAULTS = {"lifetime": 86400, "defaultMinPeriod": 1, "notifIfDisabled": True,
                   "binding": "U"}  # fmt: skip
DEFAULT_TO_DELETE = ("/0", "/1")


class BootstrapConfigError(InvalidRequest):
    pass


Entry = Mapping[str, Any]


@dataclass(frozen=True)
class BootstrapConfig:
    """One endpoint's bootstrap: paths to delete, then instances to write."""

    to_delete: tuple[str, ...] = DEFAULT_TO_DELETE
    security: Mapping[int, Entry] = field(default_factory=dict)
    servers: Mapping[int, Entry] = field(default_factory=dict)
    oscore: Mapping[int, Entry] = field(default_factory=dict)
    content_format: int | None = None

    # the accounts
    def bootstrap_security(self) -> Entry | None:
        """The Bootstrap-Server account: its PSK is the device's factory credential."""
        return next((e for e in self.security.values() if e["bootstrapServer"]), None)

    def dm_security(self) -> dict[int, Entry]:
        return {i: e for i, e in self.security.items() if not e["bootstrapServer"]}

    def dm_identity(self, endpoint: str, entry: Entry) -> str:
        """A DM account's PSK identity: as given, else the endpoint name (with "-dm" when that
        is the bootstrap identity)."""
        given = bytes(entry["publicKeyOrId"]).decode()
        if given:
            return given
        factory = self.bootstrap_psk()
        return f"{endpoint}-dm" if factory is not None and factory[0] == endpoint else endpoint

    def bootstrap_psk(self) -> tuple[str, bytes] | None:
        entry = self.bootstrap_security()
        if entry is None or entry["securityMode"] != "PSK":
            return None
        return entry["publicKeyOrId"].decode(), entry["secretKey"]

    def with_security(self, instance: int, **changes: Any) -> BootstrapConfig:
        security = dict(self.security)
        security[instance] = {**security[instance], **changes}
        return BootstrapConfig(self.to_delete, security, self.servers, self.oscore,
                               self.content_format)  # fmt: skip

    def with_oscore(self, instance: int, **changes: Any) -> BootstrapConfig:
        oscore = dict(self.oscore)
        oscore[instance] = {**oscore[instance], **changes}
        return BootstrapConfig(self.to_delete, self.security, self.servers, oscore,
                               self.content_format)  # fmt: skip

    # what goes to the device
    def writes(self) -> list[tuple[Lwm2mPath, ObjectInstance]]:
        """Bootstrap-Writes in Leshan's order: /0, /1, then /21 instances."""
        out = []
        for object_id, entries, fields in ((0, self.security, SECURITY_FIELDS),
                                           (1, self.servers, SERVER_FIELDS),
                                           (21, self.oscore, OSCORE_FIELDS)):  # fmt: skip
            for instance, entry in entries.items():
                out.append((Lwm2mPath.of(object_id, instance), _instance(instance, entry, fields)))
        return out

    # Leshan's JSON
    def to_json(self) -> dict[str, Any]:
        return {
            "toDelete": list(self.to_delete),
            "autoIdForSecurityObject": False,
            "servers": {str(i): _entry_json(e) for i, e in self.servers.items()},
            "security": {str(i): _entry_json(e) for i, e in self.security.items()},
            "acls": {},
            "oscore": {str(i): _entry_json(e) for i, e in self.oscore.items()},
            **({} if self.content_format is None else {"contentFormat": self.content_format}),
        }

    @classmethod
    def from_json(cls, data: Any) -> BootstrapConfig:
        if not isinstance(data, dict):
            raise BootstrapConfigError("a bootstrap config is a JSON object")
        known = {"toDelete", "autoIdForSecurityObject", "servers", "security", "acls", "oscore",
                 "contentFormat"}  # fmt: skip
        _no_unknown(data, known, "config")
        if data.get("autoIdForSecurityObject"):
            raise BootstrapConfigError("autoIdForSecurityObject is not supported: give the "
                                       "Security instance ids")  # fmt: skip
        if data.get("acls"):
            raise BootstrapConfigError("acls (object 2) are not supported")
        to_delete = data.get("toDelete", list(DEFAULT_TO_DELETE))
        if not isinstance(to_delete, list) or not all(isinstance(p, str) for p in to_delete):
            raise BootstrapConfigError("toDelete is a list of paths")
        for path in to_delete:
            try:
                Lwm2mPath.parse(path)
            except InvalidPath:
                raise BootstrapConfigError(f"{path} is not a valid path") from None
        content_format = data.get("contentFormat")
        if content_format is not None and content_format not in (11542, 112, 110, 1542):
            raise BootstrapConfigError("contentFormat must be TLV (11542), SenML CBOR (112) or "
                                       "SenML JSON (110)")  # fmt: skip
        config = cls(
            tuple(to_delete),
            _entries(data.get("security"), "security", SECURITY_FIELDS, SECURITY_DEFAULTS),
            _entries(data.get("servers"), "servers", SERVER_FIELDS, SERVER_DEFAULTS),
            _entries(data.get("oscore"), "oscore", OSCORE_FIELDS, {}),
            content_format,
        )
        config.check()
        return config

    def check(self) -> None:
        """Leshan's checks, except that an empty uri stands for the service and a DM server's
        PSK or OSCORE master secret may be left empty: the server generates them on the
        device's first contact."""
        bootstrap = [e for e in self.security.values() if e["bootstrapServer"]]
        if len(bootstrap) > 1:
            raise BootstrapConfigError("at most one security entry is the bootstrap server")
        for instance, entry in self.security.items():
            where = f"security {instance}"
            mode = entry.get("securityMode")
            if mode is None:
                raise BootstrapConfigError(f"{where}: securityMode is mandatory")
            if mode == "NO_SEC" and (entry["secretKey"] or entry["publicKeyOrId"]
                                     or entry["serverPublicKey"]):  # fmt: skip
                raise BootstrapConfigError(f"{where}: NO-SEC mode, keys must be empty")
            if mode == "PSK":
                _check_psk(where, entry)
            elif mode != "NO_SEC":
                raise BootstrapConfigError(f"{where}: security mode {mode} is not supported "
                                           "(PSK and NO_SEC are)")  # fmt: skip
            link = entry.get("oscoreSecurityMode")
            if link is not None and link not in self.oscore:
                raise BootstrapConfigError(f"{where}: no oscore instance {link}")
        factory = self.bootstrap_psk()
        for instance, entry in self.dm_security().items():
            if factory is not None and entry["publicKeyOrId"] == factory[0].encode():
                raise BootstrapConfigError(f"security {instance}: the bootstrap PSK identity "
                                           "cannot be an LwM2M server's too")  # fmt: skip
        for instance, server in self.servers.items():
            short_id = server.get("shortId")
            if not isinstance(short_id, int) or not 1 <= short_id <= 65534:
                raise BootstrapConfigError(f"servers {instance}: shortId must be 1..65534")
            if not any(e.get("serverId") == short_id for e in self.dm_security().values()):
                raise BootstrapConfigError(f"no security entry for server instance: {instance}")
        for instance, entry in self.oscore.items():
            secret = entry.get("oscoreMasterSecret", b"")
            if secret and (entry.get("oscoreSenderId") is None
                           or entry.get("oscoreRecipientId") is None):  # fmt: skip
                raise BootstrapConfigError(f"oscore {instance}: a master secret needs "
                                           "oscoreSenderId and oscoreRecipientId")  # fmt: skip
            if len(secret) > 64 or any(len(entry.get(k) or b"") > 7 for k in
                                       ("oscoreSenderId", "oscoreRecipientId")):  # fmt: skip
                raise BootstrapConfigError(f"oscore {instance}: master secrets take at most 64 "
                                           "bytes, sender and recipient ids 7")  # fmt: skip


def _check_psk(where: str, entry: Entry) -> None:
    identity, key = entry["publicKeyOrId"], entry["secretKey"]
    if entry["bootstrapServer"] and (not identity or not key):
        raise BootstrapConfigError(f"{where}: pre-shared-key mode, identity and key are "
                                   "mandatory for the bootstrap server")  # fmt: skip
    try:
        identity.decode("utf-8")
    except UnicodeDecodeError:
        raise BootstrapConfigError(f"{where}: the PSK identity must be UTF-8") from None
    if len(identity) > 32 or len(key) > 16:
        raise BootstrapConfigError(f"{where}: PSK identities take at most 32 bytes and keys "
                                   "16 (the DTLS stack's limits)")  # fmt: skip


def _no_unknown(data: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise BootstrapConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")


def _entries(data: Any, where: str, fields: tuple[Field, ...],
             defaults: Mapping[str, Any]) -> dict[int, Entry]:  # fmt: skip
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BootstrapConfigError(f"{where} maps instance ids to entries")
    entries: dict[int, Entry] = {}
    for key, raw in data.items():
        if not isinstance(key, str) or not (key.isascii() and key.isdigit()) or int(key) > 65534:
            raise BootstrapConfigError(f"{where}: {key!r} is not an instance id")
        if not isinstance(raw, dict):
            raise BootstrapConfigError(f"{where} {key}: an entry is a JSON object")
        _no_unknown(raw, {f.name for f in fields}, f"{where} {key}")
        entry = dict(defaults)
        for f in fields:
            value = raw.get(f.name)
            if value is not None:
                entry[f.name] = _value(f, value, f"{where} {key}")
        entries[int(key)] = entry
    return entries


def _value(f: Field, value: Any, where: str) -> Any:
    name = f"{where}: {f.name}"
    if f.choices is not None:
        if value not in f.choices:
            raise BootstrapConfigError(f"{name} is one of {', '.join(f.choices)}")
        return value
    if f.type is T.OPAQUE:
        return _bytes(value, name)
    if f.type is T.BOOLEAN:
        if not isinstance(value, bool):
            raise BootstrapConfigError(f"{name} is true or false")
        return value
    if f.type in (T.INTEGER, T.OBJLNK):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
            raise BootstrapConfigError(f"{name} is a non-negative integer")
        return value
    if not isinstance(value, str):
        raise BootstrapConfigError(f"{name} is a string")
    if f.name == "binding" and (not value or set(value) - set("UTSNQ")):
        raise BootstrapConfigError(f"{name} is letters of U, T, S, N and Q")
    return value


def _bytes(value: Any, name: str) -> bytes:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise BootstrapConfigError(f"{name} is an array of bytes or base64") from None
    if isinstance(value, list) and all(
        isinstance(b, int) and not isinstance(b, bool) and -128 <= b <= 255 for b in value
    ):
        return bytes(b & 0xFF for b in value)
    raise BootstrapConfigError(f"{name} is an array of bytes or base64")


def _entry_json(entry: Entry) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, bytes) else v for k, v in entry.items()}


def _instance(instance: int, entry: Entry, fields: tuple[Field, ...]) -> ObjectInstance:
    resources = []
    for f in fields:
        value = entry.get(f.name)
        if value is None:
            continue
        typed: Value = value
        if f.choices is not None:
            typed = f.choices[value]
        elif f.type is T.OBJLNK:
            typed = ObjectLink(21, value)
        resources.append(SingleResource(f.resource, f.type, typed))
    return ObjectInstance.of(instance, *resources)


@dataclass(frozen=True, slots=True)
class BootstrapRecord:
    endpoint: str
    config: BootstrapConfig
    updated: float
    last_bootstrap: float | None
    last_result: str | None
    """'finished', or what failed."""
