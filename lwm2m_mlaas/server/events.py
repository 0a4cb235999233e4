"""In-process event fan-out; events fire after the database commit and after the CoAP reply."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
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
    SEND = "SEND"
    """Values a device sent unasked (/dp): data["nodes"], {path: node}."""
    REQUEST_RESPONSE = "REQUEST_RESPONSE"
    """A request stored for a sleeping device got its answer: data["request_id"],
    data["request"] (DownlinkRequest) and data["response"] (Response)."""
    PROVISIONING = "PROVISIONING"
    """A provisioning step: data["stage"] is queued, reading, classified, compiled,
    delivering, running or failed (with data["reason"])."""


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    registration: Registration
    data: dict[str, Any] = field(default_factory=dict)


class EventBus:
    """Listeners are plain callables, called in the event loop; one that raises is logged."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[Event], None]] = []

    def publish(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed on %s", event.kind)

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    @contextmanager
    def listening(self, listener: Callable[[Event], None]) -> Iterator[None]:
        self._listeners.append(listener)
        try:
            yield
        finally:
            self._listeners.remove(listener)
