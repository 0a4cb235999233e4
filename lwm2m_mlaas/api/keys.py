"""Typed keys of the aiohttp application's state, and what the routes need of the service."""

from __future__ import annotations

import asyncio
from typing import Protocol

from aiohttp import web

from ..compiler.service import CompileService
from ..config import ServerConfig
from ..fleet.delivery import DeliveryService
from ..fleet.provisioning import ProvisioningService
from ..fleet.rollout import RolloutService
from ..server import Lwm2mServer
from ..store import Store


class Services(Protocol):
    """The parts of the running service the routes use (the composition root has them)."""

    @property
    def config(self) -> ServerConfig: ...
    @property
    def store(self) -> Store: ...
    @property
    def server(self) -> Lwm2mServer: ...
    @property
    def compiler(self) -> CompileService: ...
    @property
    def deliveries(self) -> DeliveryService: ...
    @property
    def provisioning(self) -> ProvisioningService: ...
    @property
    def rollouts(self) -> RolloutService: ...


SERVICE: web.AppKey[Services] = web.AppKey("service")
TOKEN = web.AppKey("token", str)
STREAMS_CLOSING = web.AppKey("streams_closing", asyncio.Event)
"""Set at shutdown so that open event streams end at once."""
