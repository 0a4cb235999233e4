"""The compile service: real zoo training and compiling in a worker process, a real SQLite
file, content-addressed packages; one compile per (model versions, class, compiler version)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lwm2m_mlaas.compiler import load_public_key, verify_package
from lwm2m_mlaas.compiler.service import CompileService, Layout, UnknownTarget
from lwm2m_mlaas.compiler.signing import PUBLIC_KEY_FILE
from lwm2m_mlaas.store import Store

pytestmark = pytest.mark.slow


async def test_compiles_once_and_records_artifacts_and_reasons(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'mlaas.db'}")
    service = CompileService(store, tmp_path)
    try:
        first, again, samd21 = await asyncio.gather(
            service.compile("sine", "nrf52840"),
            service.compile("sine", "nrf52840"),  # shares the running compile
            service.compile("sine-l", "samd21"),
        )
        assert first == again
        artifact = first.artifact
        assert artifact is not None and first.reason is None
        assert artifact.device_class == "nrf52840" and artifact.task == "sine"
        assert artifact.quality["int8"] > 0.8
        assert abs(artifact.quality["delta"]) < 0.05
        package = Path(artifact.path)
        assert package.parent == Layout(tmp_path).packages and package.stem == artifact.id
        public_key = load_public_key(Layout(tmp_path).keys / PUBLIC_KEY_FILE)
        manifest, payload = verify_package(package.read_bytes(), public_key)
        assert (manifest.model, manifest.device_class) == (artifact.model, "nrf52840")
        assert len(payload) == artifact.model_bytes and manifest.arena_bytes == artifact.arena_bytes

        assert samd21.artifact is None
        assert samd21.reason is not None and "samd21 offers" in samd21.reason
        with pytest.raises(UnknownTarget, match="no device class 'esp32'"):
            await service.compile("sine", "esp32")
        with pytest.raises(UnknownTarget, match="no model named 'nothing'"):
            await service.compile("nothing", "samd21")
    finally:
        await service.close()

    # a new service (a restarted server) finds the compiles in the database: no worker starts
    restarted = CompileService(store, tmp_path)
    assert await restarted.compile("sine", "nrf52840") == first
    assert await restarted.compile("sine-l", "samd21") == samd21
    assert restarted._pool is None
    async with store.transaction() as tx:
        stored = await tx.artifacts.all()
    assert [a.id for a in stored] == [artifact.id]
    await restarted.close()
    await store.close()
