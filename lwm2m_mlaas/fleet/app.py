"""The whole service: the LwM2M server, the compiler and the provisioning that joins them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..compiler.service import CompileService
from ..config import ServerConfig
from ..server import Lwm2mServer, build_server
from .delivery import DeliveryService
from .provisioning import ProvisioningService
from .rollout import RolloutService

if TYPE_CHECKING:
    from ..api import ApiServer


class MlaasService:
    """`async with MlaasService(config) as service:` runs everything; a device that registers
    is provisioned with no one touching it."""

    def __init__(self, config: ServerConfig, *, compile_workers: int = 1) -> None:
        self.config = config
        self.compile_workers = compile_workers
        self.server: Lwm2mServer = build_server(config)
        self.api: ApiServer | None = None
        """The REST API, when config.http_port >= 0."""

    async def start(self) -> None:
        await self.server.start()
        self.compiler = CompileService(self.server.store, self.config.data_dir,
                                       workers=self.compile_workers,
                                       queue=self.config.compile_queue)  # fmt: skip
        self.deliveries = DeliveryService(self.server)
        self.provisioning = ProvisioningService(self.server, self.compiler, self.deliveries)
        self.rollouts = RolloutService(self.server, self.compiler, self.deliveries)
        self.provisioning.rollouts = self.rollouts
        self.deliveries.start()
        if self.config.provisioning:
            self.provisioning.start()
        self.rollouts.start()
        if self.config.http_port >= 0:
            from ..api import ApiServer

            api = ApiServer(self)
            try:
                await api.start()
            except OSError:
                await self.stop()
                raise
            self.api = api
        if not self.config.provisioning:
            return
        # after a restart: devices never provisioned start now; deliveries resume on their own
        async with self.server.store.transaction() as repo:
            delivered = {d.endpoint for d in await repo.deliveries()}
        for registration in self.server.registrations.all():
            if registration.endpoint not in delivered:
                self.provisioning.trigger(registration.endpoint)

    async def stop(self) -> None:
        if self.api is not None:
            await self.api.stop()
            self.api = None
        await self.rollouts.stop()
        await self.provisioning.stop()
        await self.deliveries.stop()
        await self.compiler.close()
        await self.server.stop()

    async def __aenter__(self) -> MlaasService:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()
