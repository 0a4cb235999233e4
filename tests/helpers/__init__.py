"""What more than one test module uses, in one place; fixtures stay in the conftest.py files.

- `tests.helpers`: `wait_for` (poll a condition until it holds), `expect_error` (an Lwm2mError
  with this code and message), where the MLPerf Tiny models are (`MLPERF_TINY`).
- `tests.helpers.net`: free loopback ports, an aiocoap client context, a raw UDP peer and
  hand-built CoAP messages.
- `tests.helpers.processes`: `mlaas serve` as a separate process (`ServerProcess`, `until_up`,
  `until_http`), the `mlaas` command as a user runs it, libcoap's command-line clients.
- `tests.helpers.service`: the server and the whole service: `Api`, `EventStream`, `Devices`,
  `DeviceFactory`, `trust_key`, `running`, `deliveries`, `provisioned`, `call`, `until_state`,
  `notifications`, the operator CLI in-process (`run_cli`, `one_line`).
- `tests.helpers.packages`: signing keys and packages: `raw_public_key`, `push_package`.
- `tests.helpers.bootstrap`: Leshan's example bootstrap config and its keys,
  `bootstrap_result`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lwm2m_mlaas.core.errors import Lwm2mError, ResponseCode

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
"""What every checkout shares, beside the repository (../shared)."""
MLPERF_TINY = SHARED / "models" / "mlperf-tiny"
"""The MLPerf Tiny reference models (int8 TFLite)."""
MLPERF_FILES = ("ad01_int8.tflite", "kws_ref_model.tflite", "pretrainedResnet_quant.tflite")


async def wait_for(
    condition: Callable[..., Awaitable[bool] | bool], timeout: float = 5.0, interval: float = 0.05
) -> None:
    """Poll `condition()` until it holds; fail the test after `timeout` seconds. (Any callable
    taking no argument: a lambda binding a loop variable as a default, `lambda n=n: ...`, too.)"""
    async with asyncio.timeout(timeout):
        while True:
            result = condition()
            if isinstance(result, Awaitable):
                result = await result
            if result:
                return
            await asyncio.sleep(interval)


@contextmanager
def expect_error(code: ResponseCode, message: str) -> Iterator[None]:
    """The block must raise an Lwm2mError with this code and message."""
    with pytest.raises(Lwm2mError) as caught:
        yield
    assert (caught.value.code, str(caught.value)) == (code, message)
