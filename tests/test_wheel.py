"""The built wheel on its own: built from a copy of the source, installed into a fresh venv, it
carries the object model as package data and the schema migrations, and its `mlaas serve`
answers a CoAP registration.

Offline and quick: the wheel is built with the running environment's setuptools (no build
isolation) and installed without dependencies; the fresh venv borrows the dependencies from this
environment's site-packages through a .pth file. lwm2m_mlaas itself comes from the wheel: the
venv runs from an empty folder without PYTHONPATH, and the test checks where it imported from.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiocoap
import pytest
from aiocoap.numbers.codes import Code
from alembic.script import ScriptDirectory

from lwm2m_mlaas.store.database import alembic_config
from tests.helpers.net import free_udp_port

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "lwm2m_mlaas", "objects")


@dataclass(frozen=True)
class Venv:
    root: Path
    env: dict[str, str]

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"


def run(*args: str | Path, **kwargs: Any) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60,
                          **kwargs)  # fmt: skip
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return str(done.stdout)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"  # a copy, so the build leaves no build/ or egg-info in the tree
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
        else:
            shutil.copy2(ROOT / name, source / name)
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input")
    run(*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", base / "dist",
        source)  # fmt: skip
    (wheel,) = (base / "dist").glob("lwm2m_mlaas-*.whl")

    root = base / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", root)
    run(*pip, "--python", root / "bin" / "python", "install", "--no-deps", "--no-index", wheel)
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    purelib = run(root / "bin" / "python", "-c", where).strip()
    borrowed = dict.fromkeys(sysconfig.get_path(p) for p in ("purelib", "platlib"))
    Path(purelib, "_dev_dependencies.pth").write_text("".join(f"{p}\n" for p in borrowed))

    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONPATH" and not k.startswith("MLAAS_")}  # fmt: skip
    yield Venv(root, env)


def test_the_wheel_carries_the_object_model(venv: Venv) -> None:
    cwd = venv.root.parent / "elsewhere"
    cwd.mkdir(exist_ok=True)
    out = run(venv.python, "-c", "import lwm2m_mlaas; from lwm2m_mlaas.core import ddf; "
              "print(lwm2m_mlaas.__file__); print(ddf.OBJECTS_DIR); "
              "print(sorted(m.id for m in ddf.load_default()))",
              cwd=cwd, env=venv.env)  # fmt: skip
    package, objects, ids = out.splitlines()
    assert Path(package).is_relative_to(venv.root)
    assert Path(objects).is_relative_to(venv.root) and not Path(objects).is_symlink()
    assert ids == "[0, 1, 3, 5, 16, 21, 32100, 32101]"


def test_the_wheel_carries_the_schema_migrations(venv: Venv) -> None:
    cwd = venv.root.parent / "elsewhere"
    cwd.mkdir(exist_ok=True)
    out = run(venv.python, "-c", "from alembic.script import ScriptDirectory; "
              "from lwm2m_mlaas.store.database import MIGRATIONS, alembic_config; "
              "print(MIGRATIONS); "
              "print(ScriptDirectory.from_config(alembic_config()).get_current_head())",
              cwd=cwd, env=venv.env)  # fmt: skip
    migrations, head = out.splitlines()
    assert Path(migrations).is_relative_to(venv.root)
    assert head == ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_the_wheels_mlaas_serve_answers_a_registration(venv: Venv) -> None:
    port = free_udp_port()
    data = venv.root.parent / "data"
    log = venv.root.parent / "serve.log"
    env = {**venv.env, "MLAAS_COAPS_PORT": "-1"}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [venv.root / "bin" / "mlaas", "serve", "--coap-host", "127.0.0.1", "--coap-port",
             str(port), "--http-port", "0", "--data-dir", str(data), "--log-level", "WARNING"],
            cwd=data.parent, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    client = await aiocoap.Context.create_client_context(transports=["udp6"])
    try:
        uri = f"coap://127.0.0.1:{port}/rd?ep=wheel-1&lt=60&lwm2m=1.1&b=U"
        response = None
        async with asyncio.timeout(40):
            while response is None:
                assert process.poll() is None, log.read_text()
                request = aiocoap.Message(code=Code.POST, uri=uri, content_format=40,
                                          payload=b"</>;ct=112,</1/0>,</3/0>,</5/0>")  # fmt: skip
                try:
                    async with asyncio.timeout(2):
                        response = await client.request(request).response
                except (TimeoutError, aiocoap.error.NetworkError):
                    await asyncio.sleep(0.2)  # not listening yet
        assert response.code == Code.CREATED, response
        location = response.opt.location_path
        assert len(location) == 2 and location[0] == "rd" and location[1]
    finally:
        await client.shutdown()
        process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    assert code == 0, log.read_text()
