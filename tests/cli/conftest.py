"""The operator CLI run in-process against a live service."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.cli.main import cli


@pytest.fixture
def mlaas(service: MlaasService) -> Any:
    """`await mlaas("devices", "list")`: the command run in a thread against the service."""
    assert service.api is not None
    base = ["--server", service.api.url, "--token", service.api.token]

    async def run(*args: str, ok: bool = True) -> Result:
        result = await asyncio.to_thread(CliRunner().invoke, cli, [*base, *args])
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    return run


def one_line(result: Result) -> str:
    """The output, which must be one line (operator errors are)."""
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]
