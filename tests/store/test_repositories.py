"""The Store on a real SQLite file and a real PostgreSQL server: registrations, observations
and queued requests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.delivery import DeliveryChange, DeliveryMode, DeliveryState
from lwm2m_mlaas.core.linkformat import Link
from lwm2m_mlaas.core.paths import Lwm2mPath
from lwm2m_mlaas.core.registration import Registration
from lwm2m_mlaas.core.requests import (
    DownlinkRequest,
    Operation,
    QueuedRequest,
    SentValue,
    StoredObservation,
)
from lwm2m_mlaas.store import Store


def reg(
    endpoint: str = "dev-1", reg_id: str = "r1", last_update: float = 1000.0, lifetime: int = 30
) -> Registration:
    return Registration(
        id=reg_id, endpoint=endpoint, host="2001:db8::7", port=56830, lifetime=lifetime,
        lwm2m_version="1.1", binding="U", queue_mode=True, sms="+15550100", secure=True,
        object_links=(Link("/", {"rt": "oma.lwm2m", "ct": "11543"}), Link("/1/0"),
                      Link("/3", {"ver": "1.1"}), Link("/3/0"), Link("/5/0", {"obs": None})),
        registration_date=999.5, last_update=last_update,
        additional_attributes={"imei": "35", "tag": 'a,b;"c"'},
    )  # fmt: skip


async def test_registration_round_trip(store: Store) -> None:
    original = reg()
    async with store.transaction() as tx:
        assert await tx.registrations.add(original) is None
    async with store.transaction() as tx:
        by_id = await tx.registrations.get("r1")
        by_endpoint = await tx.registrations.by_endpoint("dev-1")
        assert await tx.registrations.get("nope") is None
        assert await tx.registrations.by_endpoint("nope") is None
    assert by_id == original
    assert by_endpoint == original
    assert by_id is not None
    assert by_id.object_links == original.object_links
    assert dict(by_id.additional_attributes) == {"imei": "35", "tag": 'a,b;"c"'}
    assert by_id.available_instances == {1: (0,), 3: (0,), 5: (0,)}
    assert by_id.object_versions == {3: "1.1"}


async def test_register_again_replaces_and_returns_old(store: Store) -> None:
    first, second = reg(reg_id="r1"), reg(reg_id="r2", last_update=2000.0)
    async with store.transaction() as tx:
        await tx.registrations.add(first)
        await tx.registrations.add(reg(endpoint="dev-2", reg_id="r3"))
    async with store.transaction() as tx:
        assert await tx.registrations.add(second) == first
    async with store.transaction() as tx:
        assert await tx.registrations.get("r1") is None
        assert await tx.registrations.by_endpoint("dev-1") == second
        assert [r.id for r in await tx.registrations.all()] == ["r2", "r3"]


async def test_save_and_remove_registration(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.registrations.add(reg())
    updated = replace(reg(), lifetime=300, last_update=1500.0, object_links=(Link("/3/0"),))
    async with store.transaction() as tx:
        await tx.registrations.save(updated)
    async with store.transaction() as tx:
        assert await tx.registrations.get("r1") == updated
        assert await tx.registrations.remove("r1") == updated
        # later look-ups in the same transaction no longer see it
        assert await tx.registrations.get("r1") is None
        assert await tx.registrations.remove("r1") is None
    async with store.transaction() as tx:
        assert await tx.registrations.all() == []


async def test_observations_cascade_with_their_registration(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.registrations.add(reg("a", "ra"))
        await tx.registrations.add(reg("b", "rb"))
        state = await tx.observations.add("ra", Lwm2mPath.parse("/5/0/3"), 112, "aa")
        await tx.observations.add("ra", Lwm2mPath.parse("/5/0/5"), None, "bb")
        kept = await tx.observations.add("rb", Lwm2mPath.parse("/3/0"), 11543, "cc")
    assert state == StoredObservation(state.id, "ra", Lwm2mPath.parse("/5/0/3"), 112, "aa")
    async with store.transaction() as tx:
        # observing the same path again replaces the earlier observation
        await tx.observations.add("ra", Lwm2mPath.parse("/5/0/3"), 60, "dd")
    async with store.transaction() as tx:
        assert [(o.path, o.token) for o in await tx.observations.all("ra")] == [
            (Lwm2mPath.parse("/5/0/5"), "bb"), (Lwm2mPath.parse("/5/0/3"), "dd"),
        ]  # fmt: skip
        assert await tx.registrations.remove("ra") is not None
    async with store.transaction() as tx:
        assert await tx.observations.all("ra") == []
        assert await tx.observations.all() == [kept]
        # re-registering the endpoint drops the old registration's observations too
        await tx.registrations.add(reg("b", "rb2"))
    async with store.transaction() as tx:
        assert await tx.observations.all() == []


async def test_remove_observations(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.registrations.add(reg("a", "ra"))
        first = await tx.observations.add("ra", Lwm2mPath.parse("/3/0/9"), None, "")
        await tx.observations.add("ra", Lwm2mPath.parse("/3/0/10"), None, "")
        await tx.observations.remove(first.id)
        assert [str(o.path) for o in await tx.observations.all("ra")] == ["/3/0/10"]


async def test_observation_needs_a_registration(store: Store) -> None:
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        async with store.transaction() as tx:
            await tx.observations.add("missing", Lwm2mPath.parse("/3/0"), None, "")
    async with store.transaction() as tx:
        assert await tx.observations.all() == []


WRITE = DownlinkRequest(
    Operation.WRITE,
    Lwm2mPath.parse("/5/0/0"),
    ContentFormat.OPAQUE,
    payload=bytes(range(256)) + b"\x00\xff",
    replace=False,
)


@pytest.mark.parametrize(
    "request_",
    [
        WRITE,
        DownlinkRequest(Operation.READ, Lwm2mPath.parse("/3/0"), ContentFormat.SENML_CBOR),
        DownlinkRequest(Operation.EXECUTE, Lwm2mPath.parse("/5/0/2"), arguments="0='a',1"),
        DownlinkRequest(
            Operation.WRITE_ATTRIBUTES,
            Lwm2mPath.parse("/3/0/9"),
            attributes={"pmin": "10", "pmax": None},
        ),
        DownlinkRequest(
            Operation.READ_COMPOSITE,
            Lwm2mPath(()),
            ContentFormat.SENML_JSON,
            paths=(Lwm2mPath.parse("/3/0/9"), Lwm2mPath.parse("/5/0/3")),
        ),
        DownlinkRequest(Operation.WRITE, Lwm2mPath.parse("/1/0/1"), payload=b""),
    ],
)
def test_downlink_request_json_round_trip(request_: DownlinkRequest) -> None:
    data = request_.to_json()
    assert DownlinkRequest.from_json(data) == request_
    if request_ is WRITE:
        assert data == {
            "operation": "write", "path": "/5/0/0", "content_format": 42,
            "payload": bytes(range(256)).hex() + "00ff", "replace": False, "arguments": "",
            "attributes": {}, "paths": [],
        }  # fmt: skip


async def test_queued_requests(store: Store) -> None:
    read = DownlinkRequest(Operation.READ, Lwm2mPath.parse("/3/0/9"), ContentFormat.TEXT)
    execute = DownlinkRequest(Operation.EXECUTE, Lwm2mPath.parse("/5/0/2"))
    async with store.transaction() as tx:
        ids = [await tx.queue.add("dev-1", r) for r in (WRITE, read, execute)]
        other = await tx.queue.add("dev-2", read)
    assert ids == sorted(ids) and other not in ids
    async with store.transaction() as tx:
        pending = await tx.queue.pending("dev-1")
        assert pending == [
            QueuedRequest(i, "dev-1", r, "pending")
            for i, r in zip(ids, (WRITE, read, execute), strict=True)
        ]
        assert pending[0].request.payload == WRITE.payload
        await tx.queue.complete(
            ids[1], ok=True, code=69, payload=b"100", content_format=0, error=None
        )
        await tx.queue.complete(
            ids[0], ok=False, code=None, payload=None, content_format=None, error="Request timeout"
        )
    async with store.transaction() as tx:
        assert [q.request for q in await tx.queue.pending("dev-1")] == [execute]
        assert await tx.queue.get(ids[1]) == QueuedRequest(
            ids[1], "dev-1", read, "done", 69, None
        )
        assert await tx.queue.get(ids[0]) == QueuedRequest(
            ids[0], "dev-1", WRITE, "failed", None, "Request timeout"
        )
        assert await tx.queue.get(10_000) is None
        assert [q.id for q in await tx.queue.pending("dev-2")] == [other]
        assert await tx.queue.pending("dev-3") == []


async def test_sent_values_keep_the_last_of_each_path(store: Store) -> None:
    values = [SentValue("dev-1", Lwm2mPath.parse(f"/32101/0/{r}"), r.to_bytes(2, "big"), 10.0)
              for r in range(600)]  # (more than one statement's worth)
    async with store.transaction() as tx:
        await tx.sent.put(values)
        await tx.sent.put([SentValue("dev-1", Lwm2mPath.parse("/32101/0/2"), b"new", 11.0),
                           SentValue("dev-2", Lwm2mPath.parse("/3/0/0"), b"other", 12.0)])
    async with store.transaction() as tx:
        kept = {str(v.path): (v.payload, v.at) for v in await tx.sent.of("dev-1")}
        assert [v.endpoint for v in await tx.sent.of("dev-2")] == ["dev-2"]
        assert await tx.sent.of("dev-3") == []
    assert len(kept) == 600
    assert kept["/32101/0/2"] == (b"new", 11.0) and kept["/32101/0/3"] == (b"\x00\x03", 10.0)


async def test_failed_transaction_rolls_back(store: Store) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with store.transaction() as tx:
            await tx.registrations.add(reg())
            await tx.queue.add("dev-1", WRITE)
            raise RuntimeError("boom")
    async with store.transaction() as tx:
        assert await tx.registrations.all() == []
        assert await tx.queue.pending("dev-1") == []


async def test_data_survives_reopening_the_database(database_url: str,
                                                    tmp_path: Path) -> None:  # fmt: skip
    first = await Store.open(database_url)
    try:
        async with first.transaction() as tx:
            await tx.registrations.add(reg())
            observation = await tx.observations.add("r1", Lwm2mPath.parse("/5/0/3"), 112, "t")
            queued = await tx.queue.add("dev-1", WRITE)
    finally:
        await first.close()
    if database_url.startswith("sqlite"):
        assert (tmp_path / "db" / "mlaas.db").is_file()
    second = await Store.open(database_url)
    try:
        async with second.transaction() as tx:
            assert await tx.registrations.get("r1") == reg()
            assert await tx.observations.all() == [observation]
            pending = await tx.queue.pending("dev-1")
            assert [(q.id, q.request) for q in pending] == [(queued, WRITE)]
    finally:
        await second.close()


async def test_deliveries_claimed_released_and_found_by_endpoint(store: Store) -> None:
    async with store.transaction() as tx:
        first = await tx.deliveries.add("ep-1", "a1", "sine", "nrf52840", DeliveryMode.PULL)
        await tx.deliveries.add("ep-2", "a1", "sine", "nrf52840", DeliveryMode.PUSH)
        done = await tx.deliveries.add("ep-3", "a1", "sine", "nrf52840", DeliveryMode.PULL)
        await tx.deliveries.update(done.id, DeliveryChange(state=DeliveryState.SUCCEEDED))
        await tx.registrations.add(reg("ep-1"), node="a")
    async with store.transaction() as tx:
        found = await tx.deliveries.active_of(["ep-1", "ep-3", "ep-9"])
        assert [d.endpoint for d in found] == ["ep-1"]
        assert await tx.deliveries.claim(first.id, "b", {"a", "b"}) is None  # on a, not b
        claimed = await tx.deliveries.claim(first.id, "a", {"a", "b"})
        assert claimed is not None and claimed.attempts == 1
    async with store.transaction() as tx:
        await tx.deliveries.release(first.id, "a")
        again = await tx.deliveries.claim(first.id, "a", {"a"})
        assert again is not None and again.attempts == 2
