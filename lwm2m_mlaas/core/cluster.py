"""Several `mlaas serve` nodes on one database are one service: each node heart-beats into the
database, and a device belongs to the live node a consistent-hash ring over the live nodes
picks for its endpoint name, so a node joining or leaving moves only its share of devices."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

POINTS = 64
"""Points per node on the ring: enough that four nodes get shares within a few percent."""


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    coap_uri: str
    """Where its devices register (NoSec CoAP), '' when it serves none."""
    coaps_uri: str
    """CoAPs (DTLS-PSK), '' when it serves none."""
    api_url: str
    """Its REST API, '' when it runs none."""
    started: float
    heartbeat: float
    """When it last said it is alive."""
    api_token: str = ""
    """The bearer token its REST API takes: another node forwards requests with it."""


def _point(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


class HashRing:
    """Consistent hashing of endpoint names onto node ids."""

    def __init__(self, node_ids: Iterable[str]) -> None:
        self.node_ids = tuple(sorted(set(node_ids)))
        ring = sorted((_point(f"{node}#{i}"), node) for node in self.node_ids
                      for i in range(POINTS))  # fmt: skip
        self._points = [p for p, _ in ring]
        self._owners = [n for _, n in ring]

    def owner(self, endpoint: str) -> str:
        """The node id the endpoint belongs to; LookupError on an empty ring."""
        return self._owners[self._index(endpoint)]

    def successor(self, endpoint: str) -> str | None:
        """The node the endpoint would belong to were its own node gone (the next other node
        clockwise); None on a ring of one node."""
        start = self._index(endpoint)
        owner = self._owners[start]
        for step in range(1, len(self._owners)):
            node = self._owners[(start + step) % len(self._owners)]
            if node != owner:
                return node
        return None

    def _index(self, endpoint: str) -> int:
        if not self._owners:
            raise LookupError("no live node")
        return bisect.bisect(self._points, _point(endpoint)) % len(self._points)


class Leases(Protocol):
    """Work one node of the service does at a time (server.cluster.Membership)."""

    async def hold(self, name: str) -> bool: ...
    async def release(self, name: str) -> None: ...
