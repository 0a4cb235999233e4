"""ServerConfig: defaults < TOML [server] table < MLAAS_* environment < explicit overrides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lwm2m_mlaas.config import MAX_PACKAGE_URI, ServerConfig, default_data_dir


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MLAAS_"):
            monkeypatch.delenv(name)


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mlaas.toml"
    path.write_text(text)
    return path


def test_defaults() -> None:
    config = ServerConfig.load()
    assert config == ServerConfig()
    assert (config.coap_host, config.coap_port, config.db, config.block_size) == (
        "::",
        5683,
        "",
        512,
    )
    assert (config.lifetime_grace, config.request_timeout) == (15.0, 10.0)


def test_default_data_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "lwm2m-mlaas"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".local" / "share" / "lwm2m-mlaas"


def test_toml_server_table_over_defaults(tmp_path: Path) -> None:
    path = toml(
        tmp_path,
        '[server]\ncoap_port = 5690\nlifetime_grace = 5\ndata_dir = "/srv/mlaas"\n'
        'log_level = "DEBUG"\n\n[compiler]\nworkers = 4\n',
    )
    config = ServerConfig.load(path)
    assert (config.coap_port, config.lifetime_grace, config.log_level) == (5690, 5.0, "DEBUG")
    assert isinstance(config.lifetime_grace, float)
    assert config.data_dir == Path("/srv/mlaas")
    assert config.coap_host == "::"  # not in the file: default


def test_toml_without_server_table(tmp_path: Path) -> None:
    assert ServerConfig.load(toml(tmp_path, "[compiler]\nworkers = 4\n")) == ServerConfig()


def test_environment_over_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = toml(tmp_path, "[server]\ncoap_port = 5690\nblock_size = 256\n")
    monkeypatch.setenv("MLAAS_COAP_PORT", "5700")
    monkeypatch.setenv("MLAAS_QUEUE_AWAKE_TIME", "2.5")
    monkeypatch.setenv("MLAAS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLAAS_NOT_A_SETTING", "ignored")
    config = ServerConfig.load(path)
    assert (config.coap_port, config.block_size, config.queue_awake_time) == (5700, 256, 2.5)
    assert config.data_dir == tmp_path / "data"


def test_overrides_over_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = toml(tmp_path, '[server]\ncoap_port = 5690\ncoap_host = "::1"\n')
    monkeypatch.setenv("MLAAS_COAP_PORT", "5700")
    monkeypatch.setenv("MLAAS_LOG_LEVEL", "WARNING")
    config = ServerConfig.load(path, coap_port=5800, log_level=None, data_dir=str(tmp_path))
    assert (config.coap_port, config.log_level, config.coap_host) == (5800, "WARNING", "::1")
    assert config.data_dir == tmp_path  # a str override becomes a Path


@pytest.mark.parametrize("where", ["toml", "override"])
def test_unknown_setting_refused(tmp_path: Path, where: str) -> None:
    with pytest.raises(ValueError) as caught:
        if where == "toml":
            ServerConfig.load(toml(tmp_path, "[server]\ncoap_prot = 5690\n"))
        else:
            ServerConfig.load(None, coap_prot=5690)
    assert str(caught.value) == "unknown setting 'coap_prot'"


def test_invalid_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLAAS_COAP_PORT", "56a3")
    with pytest.raises(ValueError) as caught:
        ServerConfig.load()
    assert str(caught.value) == "setting coap_port='56a3' is not a valid int"


def test_database_url_default(tmp_path: Path) -> None:
    config = ServerConfig(data_dir=tmp_path)
    assert config.database_url == f"sqlite+aiosqlite:///{tmp_path}/mlaas.db"


def test_database_url_from_a_plain_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ServerConfig(db="fleet.db").database_url == f"sqlite+aiosqlite:///{tmp_path}/fleet.db"
    assert ServerConfig(db="~/a/fleet.db").database_url == (
        f"sqlite+aiosqlite:///{tmp_path}/home/a/fleet.db"
    )
    assert ServerConfig(db="/var/lib/m.db").database_url == "sqlite+aiosqlite:////var/lib/m.db"


@pytest.mark.parametrize(
    "url",
    ["postgresql+asyncpg://mlaas:secret@db.example:5432/fleet", "sqlite+aiosqlite:///:memory:"],
)
def test_database_url_given_as_url(url: str) -> None:
    assert ServerConfig(db=url).database_url == url
    assert ServerConfig.load(None, db=url).database_url == url


def test_package_uris_stay_within_the_127_bytes_of_5_0_1() -> None:
    """Zephyr's client reads a Package URI into 128 bytes with its terminator: a host that
    could make a longer one is refused with the reason, a full IPv6 address is not."""
    longest_ipv6 = "2001:db8:1234:5678:9abc:def0:1234:5678"
    config = ServerConfig(advertised_host=longest_ipv6, coaps_host=longest_ipv6)
    assert config.longest_package_uri() <= MAX_PACKAGE_URI
    uri = f"coaps://[{longest_ipv6}]:65535/fw/{'a' * 64}.pkg"
    assert len(uri) == config.longest_package_uri()
    with pytest.raises(ValueError, match="over the 127 of /5/0/1"):
        ServerConfig(advertised_host="lwm2m-device-management.eu-central.example.com")
    with pytest.raises(ValueError, match="package URI takes up to 134 bytes"):
        ServerConfig.load(advertised_host="x" * 49)
