"""The other live nodes of the service, as REST peers. A request for a device registered on
another node is carried out by that node (forwarded once, with its token) and answered here;
/api/event follows every other node's own events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from ..core.cluster import Node
from ..server.cluster import Membership
from .errors import ApiError
from .keys import Services

log = logging.getLogger(__name__)

FORWARDED = "X-Mlaas-Forwarded-By"
"""Marks a request a node forwarded (the value is its id): it is answered where it arrives,
never forwarded again."""
DEVICE_ROUTES = ("/api/clients/{ep}", "/api/mlaas/devices/{ep}")
"""Routes, with those under them, that address one device by its endpoint name."""
DELIVERY_ROUTES = ("/api/mlaas/deliveries/{id}/cancel",)
"""Routes that act on a delivery's device."""
PEER_CHECK = 2.0
"""Seconds between looks at the live nodes while an event stream follows them."""


class Peers:
    """The other live nodes' REST APIs, over one client session (open while the app runs)."""

    def __init__(self, service: Services) -> None:
        self.service = service
        self._session: aiohttp.ClientSession | None = None

    async def session(self, app: web.Application) -> AsyncIterator[None]:
        """An aiohttp cleanup context: the client session, closed when the app stops."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),  # event streams hold their connection
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5.0))  # fmt: skip
        try:
            yield
        finally:
            await self._session.close()

    @property
    def membership(self) -> Membership:
        return self.service.server.membership

    def others(self) -> list[Node]:
        """The other live nodes that serve a REST API."""
        me = self.membership.node.id
        return [n for n in self.membership.live if n.id != me and n.api_url]

    async def owner(self, request: web.Request) -> Node | None:
        """The other live node that must carry `request` out: it addresses one device, the
        device is registered there and not here, and no node has forwarded it yet."""
        if FORWARDED in request.headers or not self.membership.shared:
            return None
        endpoint = await self._endpoint(request)
        registrations = self.service.server.registrations
        if endpoint is None or registrations.by_endpoint(endpoint) is not None:
            return None
        async with self.service.store.transaction() as tx:
            node_id = (await tx.registrations.nodes_of([endpoint])).get(endpoint)
        return next((n for n in self.others() if n.id == node_id), None)

    async def _endpoint(self, request: web.Request) -> str | None:
        """The endpoint of the device the request acts on, None for other routes."""
        resource = request.match_info.route.resource
        route = "" if resource is None else resource.canonical
        if route.startswith(DEVICE_ROUTES):
            return request.match_info["ep"]
        delivery_id = request.match_info.get("id", "")
        if route in DELIVERY_ROUTES and delivery_id.isascii() and delivery_id.isdigit():
            async with self.service.store.transaction() as tx:
                delivery = await tx.deliveries.get(int(delivery_id))
            return None if delivery is None else delivery.endpoint
        return None

    async def forward(self, request: web.Request, node: Node) -> web.Response:
        """Carry `request` out on `node`; its status, content type and body are the answer."""
        headers = {"Authorization": f"Bearer {node.api_token}",
                   FORWARDED: self.membership.node.id}  # fmt: skip
        if "Content-Type" in request.headers:
            headers["Content-Type"] = request.headers["Content-Type"]
        body = await request.read() if request.body_exists else None
        url = URL(node.api_url + request.raw_path, encoded=True)
        try:
            async with self._client.request(request.method, url, headers=headers,
                                            data=body) as answer:  # fmt: skip
                content = await answer.read()
        except aiohttp.ClientError as exc:
            raise ApiError(502, f"Bad gateway: node {node.id} did not answer "
                                f"({type(exc).__name__})") from None  # fmt: skip
        relayed = {k: answer.headers[k] for k in ("Content-Type",) if k in answer.headers}
        return web.Response(status=answer.status, reason=answer.reason, body=content,
                            headers=relayed)  # fmt: skip

    async def gather(self, request: web.Request) -> list[Any]:
        """The JSON answers of every other live node to `request` (a GET), each answering
        for its own devices; a node that fails to answer is left out (and logged)."""
        if FORWARDED in request.headers or not self.membership.shared:
            return []

        async def ask(node: Node) -> Any:
            headers = {"Authorization": f"Bearer {node.api_token}",
                       FORWARDED: self.membership.node.id}  # fmt: skip
            async with self._client.get(URL(node.api_url + request.raw_path, encoded=True),
                                        headers=headers) as answer:  # fmt: skip
                answer.raise_for_status()
                return await answer.json()

        nodes = self.others()
        answers = await asyncio.gather(*(ask(n) for n in nodes), return_exceptions=True)
        for node, answer in zip(nodes, answers, strict=True):
            if isinstance(answer, BaseException):
                log.warning("node %s did not answer %s: %s", node.id, request.path, answer)
        return [a for a in answers if not isinstance(a, BaseException)]

    @contextlib.asynccontextmanager
    async def following(self, query: Mapping[str, str],
                        deliver: Callable[[str, str], None]) -> AsyncIterator[None]:  # fmt: skip
        """While open, every other live node's own events (`query`, e.g. ep, passed on) go
        to `deliver(name, data)`. Nodes that join are followed within PEER_CHECK seconds; a
        stream that ends is dropped, and followed again if its node is still live."""
        followed: dict[tuple[str, str], asyncio.Task[None]] = {}

        async def follow(node: Node) -> None:
            try:
                async for name, data in self._events(node, query):
                    deliver(name, data)
            except (aiohttp.ClientError, OSError) as exc:
                log.debug("events of node %s: %s", node.id, exc)

        async def watch() -> None:
            while True:
                live = {(n.id, n.api_url): n for n in self.others()}
                for key, task in list(followed.items()):
                    if task.done() or key not in live:
                        task.cancel()
                        del followed[key]
                for key, node in live.items():
                    if key not in followed:
                        followed[key] = asyncio.create_task(follow(node),
                                                            name=f"events of {node.id}")
                await asyncio.sleep(PEER_CHECK)

        watcher = asyncio.create_task(watch(), name="live nodes")
        try:
            yield
        finally:
            for task in (watcher, *followed.values()):
                task.cancel()
            await asyncio.gather(watcher, *followed.values(), return_exceptions=True)

    async def _events(self, node: Node, query: Mapping[str, str]) -> AsyncIterator[tuple[str, str]]:
        """The (name, data) of the node's own events, as long as its stream lasts."""
        async with self._client.get(node.api_url + "/api/event", params={**query, "local": ""},
                                    headers={"Authorization": f"Bearer {node.api_token}"}
                                    ) as response:  # fmt: skip
            if response.status != 200:
                log.warning("events of node %s: HTTP %d", node.id, response.status)
                return
            pending = b""
            async for chunk in response.content.iter_any():
                *blocks, pending = (pending + chunk).split(b"\n\n")
                for block in blocks:
                    name, data = "", []
                    for line in block.decode().split("\n"):
                        if line.startswith("event:"):
                            name = line.removeprefix("event:").strip()
                        elif line.startswith("data:"):
                            data.append(line.removeprefix("data:").removeprefix(" "))
                    if name and data:
                        yield name, "\n".join(data)

    @property
    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the REST API is not running")
        return self._session


PEERS = web.AppKey("peers", Peers)
