"""Devices classified from what the server reads from them over LwM2M (/3/0, /32100/0)."""

from __future__ import annotations

import pytest

from lwm2m_mlaas.compiler.targets import capabilities_from, classify
from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.nodes import ObjectInstance, ResourceType, SingleResource
from lwm2m_mlaas.core.requests import Response
from lwm2m_mlaas.server import Lwm2mServer
from lwm2m_mlaas.sim import BOARDS
from tests.helpers.service import DeviceFactory


async def read_instance(server: Lwm2mServer, endpoint: str, path: str) -> ObjectInstance:
    response = await server.read(endpoint, path, ContentFormat.SENML_CBOR)
    assert isinstance(response, Response) and isinstance(response.node, ObjectInstance)
    return response.node


@pytest.mark.parametrize("board", ["samd21", "nrf52840", "mps2-an505"])
async def test_a_registered_device_is_classified_from_its_reports(
    server: Lwm2mServer, device: DeviceFactory, board: str
) -> None:
    await device("dev-1", board=BOARDS[board])
    reported = capabilities_from(
        await read_instance(server, "dev-1", "/3/0"),
        await read_instance(server, "dev-1", "/32100/0"),
    )
    assert reported.core == BOARDS[board].core and reported.board == board
    assert "tflm" in reported.runtimes
    found = classify(reported)
    assert found is not None and found.name == board


def test_missing_capabilities_are_refused() -> None:
    ml = ObjectInstance.of(0, SingleResource(0, ResourceType.STRING, "cortex-m4f"))
    with pytest.raises(ValueError, match="lacks core"):
        capabilities_from(ObjectInstance.of(0), ml)
