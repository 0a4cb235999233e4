"""The bootstrap server (LwM2M 1.1 5.2.7.2, client-initiated): /bs answers a Bootstrap-Request,
then a session deletes and writes the device's Security and Server objects from its bootstrap
configuration and ends with Bootstrap-Finish. A DM server PSK the configuration leaves empty
is generated on the device's first contact and stored with the DM credentials."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import aiocoap
import aiocoap.resource as coap_resource
from aiocoap.numbers.codes import Code

from ..core.bootstrap import BootstrapConfig
from ..core.codecs import encode
from ..core.content_format import ContentFormat
from ..core.errors import InvalidRequest, Lwm2mError
from ..core.model import ObjectRegistry
from ..core.paths import Lwm2mPath
from ..core.security import MAX_KEY_BYTES, OscoreInfo, OscoreSetting, SecurityInfo
from ..store import Store
from .resources import error_message
from .security import Credentials, Forbidden, bootstrap_claim, claimed_endpoint

log = logging.getLogger(__name__)

WRITE_FORMATS = (ContentFormat.TLV, ContentFormat.SENML_CBOR, ContentFormat.SENML_JSON)


class BootstrapService:
    def __init__(self, store: Store, credentials: Credentials, model: ObjectRegistry,
                 server_uri: Callable[[bool], str], timeout: float = 30.0, *,
                 dm_uri: Callable[[str, bool], str] | None = None,
                 bs_uri: Callable[[str, bool], str] | None = None,
                 node_uris: Callable[[], set[str]] = set,
                 handling: Callable[[], AbstractContextManager[None]] = nullcontext,
                 ) -> None:  # fmt: skip
        self.context: aiocoap.Context | None = None
        """The server's bound context (set at start)."""
        self.store = store
        self.credentials = credentials
        self.model = model
        self.server_uri = server_uri
        """This server's CoAPs (True) or CoAP URI for devices."""
        self.dm_uri = dm_uri or (lambda _endpoint, secure: server_uri(secure))
        """What an empty uri stands for: the CoAPs (True) or CoAP URI of the node of the
        service the endpoint belongs to."""
        self.bs_uri = bs_uri or (lambda _endpoint, secure: server_uri(secure))
        """What an empty bootstrap-server uri stands for (the node the endpoint moves to if its
        own node dies)."""
        self.node_uris = node_uris
        """The URIs of the service's other live nodes (they share the database)."""
        self.timeout = timeout
        self.handling = handling
        """Counts a session as the registration interface's work (in flight while it runs)."""
        self._sessions: dict[str, asyncio.Task[None]] = {}

    async def request(self, endpoint: str, remote: Any, preferred: int | None) -> None:
        """Check a Bootstrap-Request and start its session (after the 2.04 has gone out)."""
        async with self.store.transaction() as tx:
            record = await tx.bootstrap.get(endpoint)
        if record is None:
            raise InvalidRequest(f"no bootstrap config for endpoint {endpoint!r}")
        config = record.config
        claim = bootstrap_claim(remote)
        if claim is not None and claim.endpoint != endpoint:
            raise Forbidden(f"the bootstrap identity belongs to endpoint {claim.endpoint!r}")
        if claim is None:
            # a config without a bootstrap PSK of its own takes the endpoint's PSK (Leshan's
            # bootstrap server has one security store); one with its own takes only that one
            claimed = claimed_endpoint(remote)
            if claimed is not None and claimed != endpoint:
                raise Forbidden(f"the credentials used belong to endpoint {claimed!r}")
            if config.bootstrap_psk() is not None:
                raise Forbidden("DM server credentials cannot bootstrap: use the bootstrap PSK"
                                if claimed is not None
                                else f"endpoint {endpoint!r} must bootstrap over DTLS")
        fmt = ContentFormat.TLV
        if config.content_format is not None:
            fmt = ContentFormat(config.content_format)
        elif preferred is not None and preferred in {int(f) for f in WRITE_FORMATS}:
            fmt = ContentFormat(preferred)
        previous = self._sessions.pop(endpoint, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.get_running_loop().create_task(
            self._session(endpoint, config, remote, fmt),
            name=f"bootstrap {endpoint}")  # fmt: skip
        self._sessions[endpoint] = task
        task.add_done_callback(lambda t: self._sessions.pop(endpoint, None)
                               if self._sessions.get(endpoint) is t else None)  # fmt: skip

    async def _session(self, endpoint: str, config: BootstrapConfig, remote: Any,
                       fmt: ContentFormat) -> None:  # fmt: skip
        await asyncio.sleep(0)  # the 2.04 goes out first
        try:
            with self.handling():
                failures = await self._configure(endpoint, config, remote, fmt)
            result = "finished" + (f" ({'; '.join(failures)})" if failures else "")
        except asyncio.CancelledError:
            result = "cancelled by a new bootstrap request"
            raise
        except (Lwm2mError, aiocoap.error.Error, TimeoutError) as exc:
            result = f"failed: {exc or type(exc).__name__}"
        finally:
            log.info("bootstrap of %s: %s", endpoint, result)
            async with self.store.transaction() as tx:
                await tx.bootstrap.record_result(endpoint, result)

    async def _configure(self, endpoint: str, config: BootstrapConfig, remote: Any,
                         fmt: ContentFormat) -> list[str]:  # fmt: skip
        """Deletes, writes and Bootstrap-Finish; the deletes and writes that failed."""
        config = await self._resolved(endpoint, config)
        failures = []
        for deleted in config.to_delete:
            answer = await self._send(remote, Code.DELETE, Lwm2mPath.parse(deleted))
            if not answer.code.is_successful():
                failures.append(f"delete {deleted}: {answer.code}")
        for path, node in config.writes():
            answer = await self._send(remote, Code.PUT, path,
                                      encode(node, path, self.model, fmt), fmt)  # fmt: skip
            if not answer.code.is_successful():
                failures.append(f"write {path}: {answer.code} "
                                f"{answer.payload.decode(errors='replace')}")  # fmt: skip
        answer = await self._send(remote, Code.POST, None)
        if not answer.code.is_successful():
            raise Lwm2mError(f"bootstrap-finish answered {answer.code} "
                             f"{answer.payload.decode(errors='replace')}")  # fmt: skip
        return failures

    async def _resolved(self, endpoint: str, config: BootstrapConfig) -> BootstrapConfig:
        """Fill in the service's URIs where an account has none, generate the PSKs left empty,
        and store the PSK of every account on this server as the endpoint's DM credentials."""
        for instance, entry in config.security.items():
            secure = entry["securityMode"] == "PSK"
            if not entry["uri"]:
                uri = self.bs_uri(endpoint, secure) if entry["bootstrapServer"] \
                    else self.dm_uri(endpoint, secure)  # fmt: skip
                config = config.with_security(instance, uri=uri)
            elif not self._ours(entry["uri"]):
                continue
            link = entry.get("oscoreSecurityMode")
            if not entry["bootstrapServer"] and not secure and link is not None:
                config = await self._resolved_oscore(endpoint, config, link)
            if entry["bootstrapServer"] or not secure:
                continue
            identity = config.dm_identity(endpoint, entry)
            key = entry["secretKey"]
            async with self.store.transaction() as tx:
                current = await tx.security.get(endpoint)
                if not key:
                    key = (current.key if current is not None and current.identity == identity
                           else os.urandom(MAX_KEY_BYTES))  # fmt: skip
                info = SecurityInfo(endpoint, identity, key)
                if current != info:
                    await tx.security.put(info)
            self.credentials.put(info)
            if current != info:  # the device's node must know it before the device calls
                await self.credentials.announce(endpoint)
            config = config.with_security(instance, publicKeyOrId=identity.encode(), secretKey=key)
        return config

    async def _resolved_oscore(self, endpoint: str, config: BootstrapConfig,
                               instance: int) -> BootstrapConfig:  # fmt: skip
        """The OSCORE context of an account on this server: generated when its master secret
        is empty (or the one stored for the endpoint), and stored as its DM credentials."""
        entry = config.oscore[instance]
        async with self.store.transaction() as tx:
            current = await tx.oscore.get(endpoint)
            if entry.get("oscoreMasterSecret"):
                setting = OscoreSetting(entry["oscoreRecipientId"], entry["oscoreSenderId"],
                                        entry["oscoreMasterSecret"],
                                        entry.get("oscoreMasterSalt", b""))  # fmt: skip
            elif current is not None:
                setting = current.setting
            else:  # the device's Sender ID must be unique: 6 random bytes
                setting = OscoreSetting(b"", os.urandom(6), os.urandom(16))
            info = OscoreInfo(endpoint, setting)
            if current != info:
                await tx.oscore.put(info)
        if current != info:  # a new context: its sequence numbers start at 0
            self.credentials.put_oscore(info)
            await self.credentials.announce(endpoint)
        return config.with_oscore(instance, oscoreMasterSecret=setting.master_secret,
                                  oscoreSenderId=setting.recipient_id,
                                  oscoreRecipientId=setting.sender_id,
                                  oscoreMasterSalt=setting.master_salt)  # fmt: skip

    def _ours(self, uri: str) -> bool:
        """A URI of this service: this server's or another live node's."""
        if uri in self.node_uris():
            return True
        for secure in (True, False):
            try:
                if uri == self.server_uri(secure):
                    return True
            except Lwm2mError:
                pass
        return False

    async def _send(self, remote: Any, code: Code, path: Lwm2mPath | None, payload: bytes = b"",
                    fmt: ContentFormat | None = None) -> aiocoap.Message:  # fmt: skip
        msg = aiocoap.Message(code=code, payload=payload)
        msg.remote = remote
        msg.opt.uri_path = ("bs",) if path is None else path.segments
        if fmt is not None:
            msg.opt.content_format = int(fmt)
        async with asyncio.timeout(self.timeout):
            assert self.context is not None, "server not started"
            return await self.context.request(msg).response

    async def close(self) -> None:
        tasks = list(self._sessions.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class BootstrapResource(coap_resource.Resource):
    """/bs: Bootstrap-Request (POST ?ep=<name>[&pct=<format>]) answered 2.04."""

    def __init__(self, service: BootstrapService) -> None:
        super().__init__()
        self.service = service

    def get_link_description(self) -> dict[str, str]:
        return {}

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        try:
            endpoint, preferred = None, None
            for item in request.opt.uri_query:
                name, _, value = item.partition("=")
                if name == "ep" and value:
                    endpoint = value
                elif name == "pct":
                    if not value.isdigit():
                        raise InvalidRequest(f"pct={value!r} is not a content format")
                    preferred = int(value)
            if endpoint is None:
                raise InvalidRequest("a bootstrap request needs ep=<endpoint name>")
            await self.service.request(endpoint, request.remote, preferred)
            return aiocoap.Message(code=Code.CHANGED)
        except Exception as exc:
            return error_message(exc)
