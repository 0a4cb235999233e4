"""The consistent-hash ring that places devices on live nodes."""

from __future__ import annotations

from collections import Counter

import pytest

from lwm2m_mlaas.core.cluster import HashRing

ENDPOINTS = [f"dev-{n}" for n in range(3000)]


def test_every_node_gets_a_fair_share() -> None:
    ring = HashRing(["a", "b", "c"])
    shares = Counter(ring.owner(e) for e in ENDPOINTS)
    assert set(shares) == {"a", "b", "c"}
    assert all(600 < count < 1400 for count in shares.values()), shares


def test_placement_depends_on_the_set_of_nodes_only() -> None:
    assert [HashRing(["c", "a", "b"]).owner(e) for e in ENDPOINTS] == \
        [HashRing(["a", "b", "c", "a"]).owner(e) for e in ENDPOINTS]  # fmt: skip


def test_a_node_leaving_moves_only_its_own_devices() -> None:
    before = HashRing(["a", "b", "c"])
    after = HashRing(["a", "c"])
    moved = [e for e in ENDPOINTS if before.owner(e) != after.owner(e)]
    assert moved and all(before.owner(e) == "b" for e in moved)
    assert all(after.owner(e) in ("a", "c") for e in moved)


def test_a_node_joining_takes_devices_only_for_itself() -> None:
    before = HashRing(["a", "b"])
    after = HashRing(["a", "b", "d"])
    moved = [e for e in ENDPOINTS if before.owner(e) != after.owner(e)]
    assert moved and all(after.owner(e) == "d" for e in moved)


def test_the_successor_is_where_a_device_moves_when_its_node_dies() -> None:
    """The bootstrap server written for a device is its successor: the node the ring gives it
    once its own is gone, and a share of every dead node's devices for each live node."""
    ring = HashRing(["a", "b", "c"])
    for gone in "abc":
        without = HashRing(set("abc") - {gone})
        mine = [e for e in ENDPOINTS if ring.owner(e) == gone]
        assert all(ring.successor(e) == without.owner(e) for e in mine)
        assert set(Counter(ring.successor(e) for e in mine)) == set("abc") - {gone}


def test_a_ring_of_one_has_no_successor() -> None:
    assert HashRing(["a"]).successor("dev-1") is None


def test_an_empty_ring_has_no_owner() -> None:
    with pytest.raises(LookupError, match="no live node"):
        HashRing([]).owner("dev-1")
    with pytest.raises(LookupError, match="no live node"):
        HashRing([]).successor("dev-1")
