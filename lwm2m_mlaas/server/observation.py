"""Observations (LwM2M Information Reporting): Observe of one path and Observe-Composite of
several, notifications, passive and active cancel. Persisted; after a restart each stored
observation is established anew."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TypeAlias

import aiocoap
from aiocoap import error as coap_error
from aiocoap.pipe import Pipe
from aiocoap.protocol import Request

from ..core.content_format import ContentFormat
from ..core.errors import ResponseCode
from ..core.model import ObjectRegistry
from ..core.paths import Lwm2mPath
from ..core.registration import Registration
from ..core.requests import DownlinkRequest, Operation, Response, StoredObservation
from ..store import Store, Transaction, WriteBatcher
from .downlink import CoapSender, to_response
from .events import Event, EventBus, EventKind

log = logging.getLogger(__name__)

Target: TypeAlias = Lwm2mPath | tuple[Lwm2mPath, ...]
"""What an observation watches: one path, or the paths of an Observe-Composite."""


def observe_request(target: Target, content_format: ContentFormat | None) -> DownlinkRequest:
    if isinstance(target, tuple):
        return DownlinkRequest(Operation.OBSERVE_COMPOSITE, Lwm2mPath(()), content_format,
                               paths=target)  # fmt: skip
    return DownlinkRequest(Operation.OBSERVE, target, content_format)


@dataclass
class _Live:
    observation_id: int
    registration: Registration
    request: DownlinkRequest
    coap_request: object
    token: bytes
    task: asyncio.Task[None] | None = None
    notifications: int = field(default=0)


class ObservationService:
    def __init__(
        self, sender: CoapSender, store: Store, events: EventBus, model: ObjectRegistry
    ) -> None:
        self.sender = sender
        self.store = store
        self.events = events
        self.model = model
        self._live: dict[tuple[str, Target], _Live] = {}
        self.writes = WriteBatcher(store)

    def active(self, registration_id: str) -> list[Target]:
        return [t for (rid, t) in self._live if rid == registration_id]

    async def observe(
        self,
        registration: Registration,
        target: Target,
        content_format: ContentFormat | None,
        timeout: float,
    ) -> Response:
        request = observe_request(target, content_format)
        msg = await self.sender.prepare(registration, request)
        # without aiocoap's block-wise layer, so that a cancel ends the exchange at once
        coap_request = self.sender.context.request(msg, handle_blockwise=False)
        try:
            async with asyncio.timeout(timeout):
                answer = await coap_request.response
        except TimeoutError:
            coap_request.observation.cancel()
            return Response.timeout()
        except coap_error.NetworkError as exc:
            return Response(ResponseCode.SERVICE_UNAVAILABLE, error=f"device unreachable: {exc}")
        response = to_response(request, answer, self.model)
        observation = coap_request.observation
        if not response.success or answer.opt.observe is None or observation.cancelled:
            if not observation.cancelled:
                observation.cancel()
            return response
        await self._forget(registration.id, target)

        async def add(tx: Transaction) -> StoredObservation | None:
            if await tx.registrations.get(registration.id) is None:
                return None
            return await tx.observations.add(
                registration.id, request.path,
                None if content_format is None else int(content_format), answer.token.hex(),
                request.paths)  # fmt: skip

        stored = await self.writes.submit(add)  # (observations made meanwhile share a commit)
        if stored is None:
            observation.cancel()
            return Response(ResponseCode.NOT_FOUND, error="registration ended meanwhile")
        live = _Live(stored.id, registration, request, coap_request, answer.token)
        live.task = asyncio.create_task(self._follow(live), name=f"observe {target}")
        self._live[(registration.id, target)] = live
        return response

    async def _follow(self, live: _Live) -> None:
        observation = live.coap_request.observation  # type: ignore[attr-defined]
        try:
            async for notification in observation:
                live.notifications += 1
                response = to_response(live.request, notification, self.model)
                self.events.publish(
                    Event(
                        EventKind.NOTIFICATION,
                        live.registration,
                        {
                            "path": live.request.path,
                            "paths": live.request.paths,
                            "response": response,
                            "observation_id": live.observation_id,
                        },
                    )
                )
        except (coap_error.Error, asyncio.CancelledError) as exc:
            log.debug("observation %s ended: %r", live.request.path, exc)

    async def _forget(self, registration_id: str, target: Target) -> _Live | None:
        live = self._live.pop((registration_id, target), None)
        if live is None:
            return None
        observation = live.coap_request.observation  # type: ignore[attr-defined]
        if not observation.cancelled:
            observation.cancel()
        # forget the token now: the device's next notification is answered with a reset
        live.coap_request._stop_interest()  # type: ignore[attr-defined]
        if live.task is not None:
            live.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await live.task
        return live

    async def cancel(
        self,
        registration: Registration,
        target: Target,
        *,
        active: bool = False,
        timeout: float = 10.0,
    ) -> Response:
        """Passive cancel forgets the observation (the next notification gets a reset);
        active cancel also sends GET (FETCH for a composite one) with Observe=1 on the
        observation's token (RFC 7641 3.6)."""
        live = await self._forget(registration.id, target)
        observed = observe_request(target, None)

        async def remove(tx: Transaction) -> bytes | None:
            found = None
            for stored in await tx.observations.all(registration.id):
                if stored.path == observed.path and stored.paths == observed.paths:
                    found = found or bytes.fromhex(stored.token)
                    await tx.observations.remove(stored.id)
            return found

        stored_token = await self.writes.submit(remove)
        token = live.token if live else stored_token
        if token is None:
            return Response(ResponseCode.NOT_FOUND, error=f"no observation of {_named(target)}")
        if not active:
            return Response(ResponseCode.DELETED)
        fmt = live.request.content_format if live else None
        if isinstance(target, tuple):
            request = DownlinkRequest(Operation.READ_COMPOSITE, observed.path, fmt, paths=target)
        else:
            request = DownlinkRequest(Operation.READ, target, fmt)
        msg = await self.sender.prepare(registration, request)
        msg.opt.observe = 1
        try:
            async with asyncio.timeout(timeout):
                answer = await self._request_with_token(msg, token)
        except TimeoutError:
            return Response.timeout()
        return to_response(request, answer, self.model)

    async def _request_with_token(self, msg: aiocoap.Message, token: bytes) -> aiocoap.Message:
        # aiocoap always picks a fresh token; an active cancel must reuse the observation's
        context = self.sender.context
        interface = await context.find_remote_and_interface(msg)
        pipe = Pipe(msg, log)
        request = Request(pipe, asyncio.get_running_loop(), log)
        interface.next_token = lambda: token
        try:
            interface.request(pipe)
        finally:
            del interface.next_token
        return await request.response

    async def drop(self, registration_id: str) -> None:
        """Forget every observation of a registration that ended (rows go with it, cascading)."""
        for rid, target in [k for k in self._live if k[0] == registration_id]:
            await self._forget(rid, target)

    async def restore(self, registration: Registration, timeout: float) -> None:
        """Establish the stored observations of `registration` anew (after a restart)."""
        async with self.store.transaction() as tx:
            stored = await tx.observations.all(registration.id)
        for item in stored:
            target: Target = item.paths or item.path
            if (registration.id, target) in self._live:
                continue
            fmt = None if item.content_format is None else ContentFormat(item.content_format)
            response = await self.observe(registration, target, fmt, timeout)
            if not response.success:
                log.info(
                    "could not restore observation of %s on %s: %s",
                    _named(target),
                    registration.endpoint,
                    response.error or response.code.name,
                )

    async def close(self) -> None:
        for rid, target in list(self._live):
            await self._forget(rid, target)
        await self.writes.close()


def _named(target: Target) -> str:
    return ",".join(str(p) for p in target) if isinstance(target, tuple) else str(target)
