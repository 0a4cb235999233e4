"""The composition root: `MlaasService(config)` builds every part of the service (the store,
the LwM2M server, the compiler, provisioning, deliveries, rollouts, the REST API) in its
constructor; `start()` only starts them, in order, and `stop()` stops them in reverse."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .api import ApiServer
from .compiler.service import CompileService
from .config import ServerConfig
from .core.ddf import load_default
from .core.model import ObjectRegistry
from .fleet.delivery import DeliveryService
from .fleet.provisioning import ProvisioningService
from .fleet.rollout import RolloutService
from .server import Lwm2mServer
from .store import Store


class MlaasService:
    """`async with MlaasService(config) as service:` runs everything; a device that registers
    is provisioned with no one touching it."""

    def __init__(self, config: ServerConfig, *, compile_workers: int = 1,
                 store: Store | None = None,
                 model: ObjectRegistry | None = None) -> None:  # fmt: skip
        self.config = config
        self.store = store or Store.at(config.database_url)
        self.server = Lwm2mServer(config, model or load_default(), self.store)
        self.compiler = CompileService(self.store, config.data_dir, workers=compile_workers,
                                       queue=config.compile_queue,
                                       leases=self.server.membership)  # fmt: skip
        self.deliveries = DeliveryService(self.server)
        self.rollouts = RolloutService(self.server, self.compiler, self.deliveries)
        self.provisioning = ProvisioningService(self.server, self.compiler, self.deliveries,
                                                self.rollouts)  # fmt: skip
        self.api = ApiServer(self) if config.http_port >= 0 else None
        """The REST API, when config.http_port >= 0."""
        self._stops: list[Callable[[], Awaitable[None]]] = []
        """What start() started, to stop in reverse."""

    async def start(self) -> None:
        try:
            await self.store.start()
            self._stops.append(self.store.close)
            await self.server.start()
            self._stops += [self.server.stop, self.compiler.close]
            self.deliveries.start()
            self._stops.append(self.deliveries.stop)
            if self.config.provisioning:
                self.provisioning.start()
                self._stops.append(self.provisioning.stop)
            self.rollouts.start()
            self._stops.append(self.rollouts.stop)
            if self.api is not None:
                await self.api.start()
                self._stops.append(self.api.stop)
                self.server.membership.serve_api(self.api.url, self.api.token)
        except BaseException:
            await self.stop()
            raise
        if self.config.provisioning:
            await self._provision_waiting()

    async def _provision_waiting(self) -> None:
        """After a restart: devices never provisioned start now; deliveries resume on their
        own."""
        async with self.store.transaction() as tx:
            delivered = {d.endpoint for d in await tx.deliveries.all()}
        for registration in self.server.registrations.all():
            if registration.endpoint not in delivered:
                self.provisioning.trigger(registration.endpoint)

    async def stop(self) -> None:
        while self._stops:
            await self._stops.pop()()

    async def __aenter__(self) -> MlaasService:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()
