"""OTA benchmark: N simulated devices each receive a ~50 KB model package over object 5, once by
pull and once by push, through the full delivery machinery (persisted state machine, observe,
execute, device-side signature check, TFLite-Micro golden check); then, in the same run, a bare
aiocoap Block2 transfer of the same bytes to the same clients. Prints total time, aggregate
blocks/s and KB/s, and machinery/bare ratios (bar: at most 1.5).

    python benchmarks/ota.py [--devices 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import aiocoap
import aiocoap.resource as coap_resource
from aiocoap.numbers.codes import Code
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lwm2m_mlaas.coap import block_exp, bound_port, server_context
from lwm2m_mlaas.compiler.service import CompileService, Layout
from lwm2m_mlaas.compiler.signing import PUBLIC_KEY_FILE, Signer
from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.core.artifact import StoredArtifact
from lwm2m_mlaas.core.delivery import DeliveryMode
from lwm2m_mlaas.fleet.delivery import DeliveryService
from lwm2m_mlaas.server import build_server
from lwm2m_mlaas.sim import BOARDS, DeviceConfig, SimulatedDevice
from lwm2m_mlaas.zoo import TaskKind, Zoo

MLPERF_KWS = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "mlperf-tiny" / \
    "kws_ref_model.tflite"  # fmt: skip
CLASS = "mps2-an386"
BLOCK = 512


@dataclass
class Run:
    name: str
    seconds: float
    devices: int
    package_bytes: int

    @property
    def blocks(self) -> int:
        return self.devices * math.ceil(self.package_bytes / BLOCK)

    @property
    def kb_per_s(self) -> float:
        return self.devices * self.package_bytes / 1024 / self.seconds


class Package(coap_resource.Resource):
    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data = data

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(code=Code.CONTENT, payload=self.data)


async def bare_transfer(devices: list[SimulatedDevice], data: bytes) -> float:
    """Every device's own socket fetches the bytes from a plain aiocoap server with Block2."""
    site = coap_resource.Site()
    site.add_resource(["pkg"], Package(data))
    context = await server_context(site, "127.0.0.1", 0)
    uri = f"coap://127.0.0.1:{bound_port(context)}/pkg"

    async def fetch(device: SimulatedDevice) -> None:
        assert device.context is not None
        msg = aiocoap.Message(code=Code.GET, uri=uri)
        await device.context.find_remote_and_interface(msg)
        msg.remote.maximum_block_size_exp = block_exp(BLOCK)
        answer = await device.context.request(msg).response
        assert answer.payload == data

    started = time.perf_counter()
    await asyncio.gather(*(fetch(d) for d in devices))
    seconds = time.perf_counter() - started
    await context.shutdown()
    return seconds


async def deliver_all(
    deliveries: DeliveryService,
    devices: list[SimulatedDevice],
    artifact: StoredArtifact,
    mode: str,
    progress: Progress,
) -> float:
    store = deliveries.server.store
    bar = progress.add_task(f"{mode}: delivered", total=len(devices))
    started = time.perf_counter()
    ids = [
        (await deliveries.deliver(d.config.endpoint, artifact.id, artifact.model, CLASS,
                                   DeliveryMode(mode))).id
        for d in devices
    ]
    while True:
        async with store.transaction() as tx:
            states = [(await tx.deliveries.get(i)).state for i in ids]  # type: ignore[union-attr]
        progress.update(bar, completed=states.count("succeeded"))
        if all(s in ("succeeded", "failed", "cancelled") for s in states):
            break
        await asyncio.sleep(0.1)
    seconds = time.perf_counter() - started
    if states.count("succeeded") != len(ids):
        raise SystemExit(f"{mode}: only {states.count('succeeded')} of {len(ids)} succeeded")
    return seconds


async def main(args: argparse.Namespace, folder: Path, console: Console) -> list[Run]:
    config = ServerConfig(coap_host="127.0.0.1", coap_port=0, data_dir=folder, http_port=-1,
                          coaps_port=-1,
                          max_transfers=args.devices, delivery_timeout=300)  # fmt: skip
    Signer(Layout(folder).keys)
    zoo = Zoo(Layout(folder).zoo)
    zoo.import_model(MLPERF_KWS, "keyword-spotting", name="kws", kind=TaskKind.CLASSIFICATION)
    server = build_server(config)
    await server.start()
    compiler = CompileService(server.store, folder)
    outcome = await compiler.compile("kws", CLASS)
    await compiler.close()
    artifact = outcome.artifact
    assert artifact is not None, outcome.reason
    data = Path(artifact.path).read_bytes()
    trust_key = (Layout(folder).keys / PUBLIC_KEY_FILE).read_bytes()
    uri = f"coap://127.0.0.1:{server.port}"
    devices = [
        SimulatedDevice(
            replace(
                DeviceConfig(f"ota-{n:03d}", server=uri, lifetime=600),
                board=BOARDS[CLASS],
                trust_key=trust_key,
                inference_interval=0,
                block_size=BLOCK,
            ),
            server.model,
        )
        for n in range(args.devices)
    ]
    deliveries = DeliveryService(server)
    deliveries.start()
    runs = []
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as progress:  # fmt: skip
            bar = progress.add_task("registering", total=len(devices))
            for device in devices:
                await device.start()
                progress.advance(bar)
            # warm-up: the device side's TFLite-Micro worker processes start once
            await deliver_all(deliveries, devices[:1], artifact, "push", progress)
            for mode in ("pull", "push"):
                seconds = await deliver_all(deliveries, devices, artifact, mode, progress)
                runs.append(Run(f"delivery by {mode}", seconds, len(devices), len(data)))
            seconds = await bare_transfer(devices, data)
            runs.append(Run("bare aiocoap Block2", seconds, len(devices), len(data)))
    finally:
        await deliveries.stop()
        for device in devices:
            await device.stop()
        await server.stop()
    return runs


def report(runs: list[Run], console: Console) -> dict[str, object]:
    bare = runs[-1]
    table = Table(title=f"{runs[0].devices} devices x {runs[0].package_bytes:,} B package, "
                        f"{BLOCK}-byte blocks")  # fmt: skip
    for column in ("transfer", "total s", "blocks/s", "KB/s", "x bare"):
        table.add_column(column, justify="left" if column == "transfer" else "right")
    for run in runs:
        table.add_row(run.name, f"{run.seconds:.2f}", f"{run.blocks / run.seconds:,.0f}",
                      f"{run.kb_per_s:,.0f}", f"{run.seconds / bare.seconds:.2f}")  # fmt: skip
    console.print(table)
    worst = max(r.seconds / bare.seconds for r in runs[:-1])
    console.print(f"bar: delivery machinery costs {worst:.2f}x the bare transfer (limit 1.5)")
    return {"runs": [{"name": r.name, "seconds": r.seconds, "blocks_per_s": r.blocks / r.seconds,
                      "kb_per_s": r.kb_per_s} for r in runs], "worst_ratio": worst}  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    out = Console(stderr=arguments.json)
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(main(arguments, Path(tmp), out))
    summary = report(result, out)
    if arguments.json:
        print(json.dumps(summary, indent=2))
