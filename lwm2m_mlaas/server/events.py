"""In-process event fan-out; events fire after the database commit and after the CoAP reply."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..core.registration import Registration

log = logging.getLogger(__name__)


class EventKind(StrEnum):
    REGISTRATION = "REGISTRATION"
    UPDATED = "UPDATED"
    DEREGISTRATION = "DEREGISTRATION"
    EXPIRED = "EXPIRED"
    NOTIFICATION = "NOTIFICATION"
    AWAKE = "AWAKE"
    SLEEPING = "SLEEPING"


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    registration: Registration
    data: dict[str, Any] = field(default_factory=dict)


class EventBus:
    """Listeners are plain callables or per-subscriber queues; a slow subscriber loses events
    past its queue bound instead of slowing the server."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[Event], None]] = []

    def publish(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed on %s", event.kind)

    @contextmanager
    def listening(self, listener: Callable[[Event], None]) -> Iterator[None]:
        self._listeners.append(listener)
        try:
            yield
        finally:
            self._listeners.remove(listener)

    async def subscribe(self, maxsize: int = 1000) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)

        def offer(event: Event) -> None:
            if not queue.full():
                queue.put_nowait(event)

        with self.listening(offer):
            while True:
                yield await queue.get()
