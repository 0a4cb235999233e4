"""This node's membership of the service: it heart-beats into the shared database and keeps
the live nodes (heartbeat within `node_timeout`) and their hash ring in memory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace

from ..core.cluster import HashRing, Node
from ..store import Store

log = logging.getLogger(__name__)


class Membership:
    def __init__(self, store: Store, *, interval: float, timeout: float) -> None:
        self.store = store
        self.interval = interval
        self.timeout = timeout
        self.node = Node("", "", "", "", 0.0, 0.0)
        """This node; its id and addresses are known once the server has bound its sockets."""
        self.live: tuple[Node, ...] = ()
        self.ring = HashRing(())
        self._held: dict[str, float] = {}
        """Leases this node holds, with when each runs out."""
        self._refused: dict[str, float] = {}
        """Leases another node holds, with when each runs out (no use asking before)."""
        self._loop: asyncio.Task[None] | None = None

    async def join(self, node_id: str) -> None:
        """Read the live nodes, before this one beats (`start`)."""
        now = time.time()
        self.node = replace(self.node, id=node_id, started=now)
        async with self.store.transaction() as tx:
            self.live = tuple(n for n in await tx.nodes.live(now - self.timeout) if n.id != node_id)

    async def start(self, coap_uri: str, coaps_uri: str) -> None:
        self.node = replace(self.node, coap_uri=coap_uri, coaps_uri=coaps_uri)
        await self.beat()
        self._loop = asyncio.create_task(self._run(), name="heartbeat")
        log.info("node %s: %d live node(s)", self.node.id, len(self.live))

    @property
    def shared(self) -> bool:
        """Other nodes are live: devices, deliveries and rollouts are not all this node's."""
        return any(n.id != self.node.id for n in self.live)

    def live_ids(self) -> set[str]:
        return {n.id for n in self.live} | {self.node.id}

    async def hold(self, name: str) -> bool:
        """Take or keep the lease `name` (work one node drives at a time): it lasts
        `timeout` s from the last heartbeat, which renews it, so a dead node's is taken over
        within `timeout`."""
        now = time.time()
        if self._held.get(name, 0.0) > now:
            return True
        if self._refused.get(name, 0.0) > now:  # another node's until then
            return False
        async with self.store.transaction() as tx:
            held = await tx.leases.acquire(name, self.node.id, now=now, until=now + self.timeout)
            if not held:
                self._refused[name] = min(await tx.leases.expiry(name) or now, now + self.timeout)
        if held:
            if name not in self._held:
                log.info("node %s holds %s", self.node.id, name)
            self._held[name] = now + self.timeout
        else:
            self._held.pop(name, None)
        return held

    def serve_api(self, url: str, token: str) -> None:
        """The node's REST API URL and token, announced from the next heartbeat on."""
        self.node = replace(self.node, api_url=url, api_token=token)

    async def beat(self) -> None:
        """Say this node is alive, renew its leases and read which nodes are."""
        now = time.time()
        node = self.node = replace(self.node, heartbeat=now)
        async with self.store.transaction() as tx:
            await tx.nodes.beat(node)
            for name in list(self._held):
                if await tx.leases.acquire(name, node.id, now=now, until=now + self.timeout):
                    self._held[name] = now + self.timeout
                else:
                    log.warning("node %s lost the lease %s", node.id, name)
                    del self._held[name]
            live = await tx.nodes.live(now - self.timeout)
        if {n.id for n in live} != {n.id for n in self.live}:
            self.ring = HashRing(n.id for n in live)
            if self.live:
                log.info("live nodes: %s", ", ".join(n.id for n in live))
        self.live = tuple(live)

    def uris(self) -> set[str]:
        """The CoAP and CoAPs URIs of the live nodes."""
        return {uri for n in self.live for uri in (n.coap_uri, n.coaps_uri) if uri}

    def owner(self, endpoint: str) -> Node:
        """The live node the endpoint belongs to."""
        owner = self.ring.owner(endpoint)
        return next(n for n in self.live if n.id == owner)

    def successor(self, endpoint: str) -> Node | None:
        """The live node the endpoint moves to if its own node dies; None when alone."""
        successor = self.ring.successor(endpoint)
        return next((n for n in self.live if n.id == successor), None)

    async def release(self, name: str) -> None:
        if self._held.pop(name, None) is not None:
            async with self.store.transaction() as tx:
                await tx.leases.release(name, self.node.id)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away for a moment: beat again next time
                log.exception("heartbeat failed")

    async def stop(self, *, leave: bool = True) -> None:
        """Stop beating; `leave` takes this node off the list at once (else it times out)."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        if leave and self.node.id:
            with contextlib.suppress(Exception):
                async with self.store.transaction() as tx:
                    await tx.nodes.remove(self.node.id)
                    for name in self._held:
                        await tx.leases.release(name, self.node.id)
        self._held.clear()
