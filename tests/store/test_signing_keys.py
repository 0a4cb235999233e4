"""The Store on a real SQLite file and a real PostgreSQL server: signing keys, what devices
trust and packages signed per (artifact, key), across a reopened database."""

from __future__ import annotations

from lwm2m_mlaas.core.signing import DeviceTrust, SignedPackage, SigningKey
from lwm2m_mlaas.store import Store


async def test_keys_trust_and_signed_packages_persist(database_url: str) -> None:
    url = database_url
    original = SigningKey("00" * 8, 0, b"\x01" * 32, 100.0, None)
    rotated = SigningKey("11" * 8, 1, b"\x02" * 32, 200.0, None)
    store = await Store.open(url)
    try:
        async with store.transaction() as tx:
            await tx.keys.add(rotated)
            await tx.keys.add(original)
            await tx.keys.add(original)  # recorded once
            retired = await tx.keys.retire(original.key_id)
            await tx.trust.record("dev-1", ["11" * 8, "00" * 8, "00" * 8], reported=True)
            await tx.trust.record("dev-2", ["00" * 8], reported=False)
            await tx.keys.add_package(SignedPackage("a" * 64, "a" * 64, "00" * 8, "/a", 1.0))
            await tx.keys.add_package(SignedPackage("b" * 64, "a" * 64, "11" * 8, "/b", 2.0))
            # the same (artifact, key) signed again: the newer file replaces the record
            await tx.keys.add_package(SignedPackage("c" * 64, "a" * 64, "11" * 8, "/c", 3.0))
        assert retired.retired is not None
    finally:
        await store.close()

    store = await Store.open(url)
    try:
        async with store.transaction() as tx:
            keys = await tx.keys.all()
            trusts = await tx.trust.all()
            packages = await tx.keys.packages("a" * 64)
            found = await tx.keys.package("c" * 64)
            gone = await tx.keys.package("b" * 64)
    finally:
        await store.close()
    assert [k.key_id for k in keys] == [original.key_id, rotated.key_id]  # by position
    assert keys[0].retired == retired.retired and keys[1] == rotated
    assert [(t.endpoint, t.key_ids, t.reported) for t in trusts] == [
        ("dev-1", ("00" * 8, "11" * 8), True), ("dev-2", ("00" * 8,), False)]
    assert all(isinstance(t, DeviceTrust) for t in trusts)
    assert [(p.id, p.key_id) for p in packages] == [("a" * 64, "00" * 8), ("c" * 64, "11" * 8)]
    assert found == SignedPackage("c" * 64, "a" * 64, "11" * 8, "/c", 3.0) and gone is None
