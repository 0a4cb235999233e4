"""The operator CLI run in-process against a live service."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import Result

from lwm2m_mlaas.app import MlaasService
from tests.helpers.service import run_cli


@pytest.fixture
def mlaas(service: MlaasService) -> Any:
    """`await mlaas("devices", "list")`: the command run in a thread against the service; with
    ok=False its exit code is the test's to check."""

    async def run(*args: str, ok: bool = True) -> Result:
        return await run_cli(service, *args, ok=True if ok else None)

    return run
