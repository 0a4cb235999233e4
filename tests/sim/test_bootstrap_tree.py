"""The device side of the bootstrap interface (LwM2M 1.1 TS Core 6.1.7): Bootstrap-Write and
Bootstrap-Delete on the simulated device's object tree, and DeviceResource's answers (the
Security object closed to DM servers, Bootstrap-Finish, Bootstrap-Discover), driven with
aiocoap messages built here; no sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import aiocoap
import pytest
from aiocoap.numbers.codes import Code

from lwm2m_mlaas.core.bootstrap import BootstrapConfig
from lwm2m_mlaas.core.codecs import encode
from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.ddf import load_default
from lwm2m_mlaas.core.errors import Lwm2mError, ResponseCode
from lwm2m_mlaas.core.linkformat import Link, parse_link_format
from lwm2m_mlaas.core.nodes import (
    Lwm2mObject,
    ObjectInstance,
    ResourceType,
    SingleResource,
)
from lwm2m_mlaas.core.paths import Lwm2mPath
from lwm2m_mlaas.sim.accounts import ServerAccount, bootstrap_account, dm_account
from lwm2m_mlaas.sim.device import DeviceConfig, DeviceResource, SimulatedDevice
from lwm2m_mlaas.sim.objects import ObjectTree

P = Lwm2mPath.parse
T = ResourceType
MODEL = load_default()
BS_URI = "coaps://bs.example:5684"
DM_URI = "coaps://dm.example:5684"
FACTORY_KEY = bytes(range(16))
DM_KEY = b"dm-secret-16byte"

CONFIG = BootstrapConfig.from_json({
    "toDelete": ["/0", "/1"],
    "security": {
        "0": {"uri": BS_URI, "bootstrapServer": True, "securityMode": "PSK",
              "publicKeyOrId": list(b"bt-factory"), "secretKey": list(FACTORY_KEY)},
        "1": {"uri": DM_URI, "securityMode": "PSK", "serverId": 7,
              "publicKeyOrId": list(b"bt-dm"), "secretKey": list(DM_KEY)},
    },
    "servers": {"0": {"shortId": 7, "lifetime": 60, "binding": "U"}},
})  # fmt: skip
"""A bootstrap account (instance 0, as the factory one) and one DM account with its Server
instance."""


def factory_device(endpoint: str = "bt-1") -> SimulatedDevice:
    """A device that knows only its bootstrap server (Security instance 0, no Server object)."""
    return SimulatedDevice(DeviceConfig(endpoint, server=BS_URI, bootstrap=True,
                                        psk_identity="bt-factory", psk_key=FACTORY_KEY),
                           MODEL)  # fmt: skip


@contextmanager
def answers(code: ResponseCode) -> Iterator[None]:
    with pytest.raises(Lwm2mError) as raised:
        yield
    assert raised.value.code == code, raised.value


def bootstrapped_tree() -> ObjectTree:
    """A factory device's tree after CONFIG's writes, plus /3/0 and the other objects."""
    tree = factory_device().tree
    for path, node in CONFIG.writes():
        tree.bootstrap_write(path, node)
    return tree


# Bootstrap-Write
def test_bootstrap_write_creates_the_accounts() -> None:
    tree = factory_device().tree
    assert sorted(tree.data[0]) == [0] and 1 not in tree.data
    assert dm_account(tree) is None
    changed: list[Lwm2mPath] = []
    tree.listeners.append(changed.append)
    for path, node in CONFIG.writes():
        tree.bootstrap_write(path, node)
    assert sorted(tree.data[0]) == [0, 1] and sorted(tree.data[1]) == [0]
    assert tree.data[0][1] == {
        0: DM_URI, 1: False, 2: 0, 3: b"bt-dm", 4: b"", 5: DM_KEY, 6: 3, 7: b"", 8: b"", 9: "",
        10: 7, 11: 1, 12: 0}  # fmt: skip
    assert tree.data[1][0] == {0: 7, 1: 60, 2: 1, 6: True, 7: "U"}
    assert dm_account(tree) == ServerAccount(DM_URI, False, b"bt-dm", DM_KEY, 7, 60, "U")
    assert bootstrap_account(tree) == ServerAccount(BS_URI, True, b"bt-factory", FACTORY_KEY)
    # the new instances are announced at object level (what makes the registration update)
    assert P("/0") in changed and P("/1") in changed
    assert P("/0/1/5") in changed and P("/1/0/1") in changed


def test_security_resources_are_written_by_bootstrap_only() -> None:
    tree = bootstrapped_tree()
    key = SingleResource(5, T.OPAQUE, b"new-dm-key-16byt")
    with answers(ResponseCode.METHOD_NOT_ALLOWED):
        tree.write(P("/0/1/5"), key, replace=True)
    with answers(ResponseCode.METHOD_NOT_ALLOWED):
        tree.write(P("/0/1"), ObjectInstance.of(1, key), replace=False)
    short_id = SingleResource(0, T.INTEGER, 8)  # /1/x/0 is read-only for DM servers
    with answers(ResponseCode.METHOD_NOT_ALLOWED):
        tree.write(P("/1/0/0"), short_id, replace=True)
    assert tree.data[0][1][5] == DM_KEY and tree.data[1][0][0] == 7
    tree.bootstrap_write(P("/0/1/5"), key)
    tree.bootstrap_write(P("/1/0/0"), short_id)
    assert tree.data[0][1][5] == b"new-dm-key-16byt" and tree.data[1][0][0] == 8


def test_bootstrap_write_overwrites_an_existing_instance() -> None:
    tree = factory_device().tree
    path, node = CONFIG.writes()[0]  # /0/0, the bootstrap account the device was built with
    assert path == P("/0/0")
    changed: list[Lwm2mPath] = []
    tree.listeners.append(changed.append)
    tree.bootstrap_write(path, node)
    assert bootstrap_account(tree) == ServerAccount(BS_URI, True, b"bt-factory", FACTORY_KEY)
    assert tree.data[0][0][6] == 3 and tree.data[0][0][11] == 1
    assert P("/0") not in changed  # no instance was created


def test_bootstrap_write_of_a_whole_object() -> None:
    tree = factory_device().tree
    servers = Lwm2mObject.of(1, *(ObjectInstance.of(
        i, SingleResource(0, T.INTEGER, 10 + i), SingleResource(1, T.INTEGER, 100 * (i + 1)),
        SingleResource(7, T.STRING, "U")) for i in (0, 3)))  # fmt: skip
    tree.bootstrap_write(P("/1"), servers)
    assert {i: r[0] for i, r in tree.data[1].items()} == {0: 10, 3: 13}
    assert tree.data[1][3][1] == 400


def test_bootstrap_write_refusals() -> None:
    tree = factory_device().tree
    instance = ObjectInstance.of(0, SingleResource(0, T.INTEGER, 1))
    with answers(ResponseCode.METHOD_NOT_ALLOWED):
        tree.bootstrap_write(P("/"), instance)
    with answers(ResponseCode.NOT_FOUND):  # an object the model does not have
        tree.bootstrap_write(P("/9999/0"), instance)
    with answers(ResponseCode.BAD_REQUEST):
        tree.bootstrap_write(P("/1"), instance)
    with answers(ResponseCode.BAD_REQUEST):
        tree.bootstrap_write(P("/1/0"), SingleResource(0, T.INTEGER, 1))
    assert 9999 not in tree.data and dm_account(tree) is None


def test_a_refused_bootstrap_write_creates_nothing() -> None:
    tree = factory_device().tree
    unknown = ObjectInstance.of(4, SingleResource(0, T.INTEGER, 9),
                                SingleResource(99, T.INTEGER, 1))  # fmt: skip
    with answers(ResponseCode.NOT_FOUND):
        tree.bootstrap_write(P("/1/4"), unknown)
    assert 4 not in tree.data.get(1, {})


# Bootstrap-Delete
def test_bootstrap_delete_of_root_keeps_the_bootstrap_account() -> None:
    tree = bootstrapped_tree()
    tree.bootstrap_write(P("/1/2"), ObjectInstance.of(2, SingleResource(0, T.INTEGER, 2)))
    device_object = dict(tree.data[3][0])
    changed: list[Lwm2mPath] = []
    tree.listeners.append(changed.append)
    tree.bootstrap_delete(P("/"))
    assert sorted(tree.data[0]) == [0] and tree.data[1] == {}
    assert bootstrap_account(tree) == ServerAccount(BS_URI, True, b"bt-factory", FACTORY_KEY)
    assert tree.data[3][0] == device_object and 5 in tree.data
    assert P("/0") in changed and P("/1") in changed


@pytest.mark.parametrize(("target", "security", "servers"), [
    ("/0", [0], [0]),
    ("/1", [0, 1], []),
    ("/0/1", [0], [0]),
    ("/1/0", [0, 1], []),
    ("/0/9", [0, 1], [0]),  # nothing there: nothing to do
    ("/21", [0, 1], [0]),  # an object the device lacks (Leshan's default toDelete has it)
])  # fmt: skip
def test_bootstrap_delete(target: str, security: list[int], servers: list[int]) -> None:
    tree = bootstrapped_tree()
    tree.bootstrap_delete(P(target))
    assert sorted(tree.data[0]) == security
    assert sorted(tree.data.get(1, {})) == servers
    assert bootstrap_account(tree) is not None


def test_bootstrap_delete_refusals() -> None:
    tree = bootstrapped_tree()
    with answers(ResponseCode.BAD_REQUEST):
        tree.bootstrap_delete(P("/0/0"))  # the Bootstrap-Server account by its instance
    with answers(ResponseCode.BAD_REQUEST):
        tree.bootstrap_delete(P("/3"))
    with answers(ResponseCode.BAD_REQUEST):
        tree.bootstrap_delete(P("/3/0"))
    with answers(ResponseCode.BAD_REQUEST):
        tree.bootstrap_delete(P("/5/0"))
    with answers(ResponseCode.BAD_REQUEST):
        tree.bootstrap_delete(P("/0/1/5"))
    assert sorted(tree.data[0]) == [0, 1] and sorted(tree.data[1]) == [0]
    assert 0 in tree.data[3] and 0 in tree.data[5]


def test_a_dm_server_cannot_delete_what_bootstrap_can() -> None:
    tree = bootstrapped_tree()
    with answers(ResponseCode.METHOD_NOT_ALLOWED):
        tree.delete(P("/1/0"))
    tree.bootstrap_delete(P("/1/0"))
    assert tree.data[1] == {}


# DeviceResource: the CoAP answers
def request(code: Code, path: str, payload: bytes = b"", *, content_format: int | None = None,
            accept: int | None = None) -> aiocoap.Message:  # fmt: skip
    msg = aiocoap.Message(code=code, payload=payload)
    msg.opt.uri_path = tuple(s for s in path.split("/") if s)
    if content_format is not None:
        msg.opt.content_format = content_format
    if accept is not None:
        msg.opt.accept = accept
    return msg


def bootstrap_under_way(device: SimulatedDevice) -> asyncio.Future[None]:
    """The device's state between the 2.04 to its Bootstrap-Request and the Bootstrap-Finish,
    as SimulatedDevice.bootstrap() sets it up; the future resolves at a good Finish."""
    device.bootstrapping = True
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    device._bootstrap_finished = finished
    return finished


def write(path: Lwm2mPath, node: ObjectInstance, fmt: ContentFormat) -> aiocoap.Message:
    return request(Code.PUT, str(path), encode(node, path, MODEL, fmt), content_format=int(fmt))


@pytest.mark.parametrize(("code", "path", "accept"), [
    (Code.GET, "/0", None),
    (Code.GET, "/0/0", None),
    (Code.GET, "/0/0/5", None),
    (Code.GET, "/0", int(ContentFormat.LINK)),
    (Code.PUT, "/0/0/5", None),
    (Code.DELETE, "/0/0", None),
    (Code.POST, "/0", None),
])  # fmt: skip
def test_the_security_object_is_closed_to_dm_servers(code: Code, path: str,
                                                    accept: int | None) -> None:  # fmt: skip
    device = factory_device()
    before = dict(device.tree.data[0][0])
    answer = DeviceResource(device).respond(request(code, path, accept=accept))
    assert answer.code == Code.UNAUTHORIZED
    assert b"bootstrap servers only" in answer.payload
    assert device.tree.data[0] == {0: before}


def test_a_dm_server_reads_other_objects() -> None:
    answer = DeviceResource(factory_device("bt-2")).respond(request(Code.GET, "/3/0/2"))
    assert answer.code == Code.CONTENT and answer.payload == b"SN-bt-2"


async def test_bootstrap_finish_outside_a_bootstrap_is_refused() -> None:
    device = factory_device()
    answer = DeviceResource(device).respond(request(Code.POST, "/bs"))
    assert answer.code == Code.BAD_REQUEST
    assert b"no bootstrap under way" in answer.payload


async def test_bootstrap_finish_without_a_dm_account_is_not_acceptable() -> None:
    device = factory_device()
    finished = bootstrap_under_way(device)
    resource = DeviceResource(device)
    answer = resource.respond(request(Code.POST, "/bs"))
    assert answer.code == Code.NOT_ACCEPTABLE
    assert not finished.done()
    # a Security instance without its Server instance is not a usable account either
    path, node = CONFIG.writes()[1]
    assert path == P("/0/1")
    assert resource.respond(write(path, node, ContentFormat.TLV)).code == Code.CHANGED
    assert resource.respond(request(Code.POST, "/bs")).code == Code.NOT_ACCEPTABLE
    assert not finished.done()


@pytest.mark.parametrize("fmt", [ContentFormat.TLV, ContentFormat.SENML_CBOR],
                         ids=["tlv", "senml-cbor"])  # fmt: skip
async def test_a_bootstrap_session_as_the_server_sends_it(fmt: ContentFormat) -> None:
    """Leshan's order: the deletes, the writes, then Bootstrap-Finish."""
    device = factory_device()
    finished = bootstrap_under_way(device)
    resource = DeviceResource(device)
    for deleted in CONFIG.to_delete:
        assert resource.respond(request(Code.DELETE, deleted)).code == Code.DELETED
    for path, node in CONFIG.writes():
        assert resource.respond(write(path, node, fmt)).code == Code.CHANGED
    # only bootstrap operations while bootstrapping: no Read, Execute or Create
    for code, target in ((Code.GET, "/3/0/2"), (Code.POST, "/1/0/8"), (Code.POST, "/1")):
        answer = resource.respond(request(code, target))
        assert answer.code == Code.METHOD_NOT_ALLOWED
        assert b"is not a bootstrap operation" in answer.payload
    assert resource.respond(request(Code.POST, "/bs")).code == Code.CHANGED
    assert finished.done() and finished.result() is None
    assert dm_account(device.tree) == ServerAccount(DM_URI, False, b"bt-dm", DM_KEY, 7, 60, "U")


async def test_bootstrap_delete_of_the_bootstrap_account_answers_4_00() -> None:
    device = factory_device()
    bootstrap_under_way(device)
    answer = DeviceResource(device).respond(request(Code.DELETE, "/0/0"))
    assert answer.code == Code.BAD_REQUEST
    assert b"Bootstrap-Server account stays" in answer.payload
    assert bootstrap_account(device.tree) is not None


async def test_bootstrap_write_without_content_format_answers_4_00() -> None:
    device = factory_device()
    bootstrap_under_way(device)
    answer = DeviceResource(device).respond(request(Code.PUT, "/0/1", b"\x00"))
    assert answer.code == Code.BAD_REQUEST
    assert 1 not in device.tree.data[0]


async def test_bootstrap_discover_lists_instances_with_ssid() -> None:
    device = factory_device()
    bootstrap_under_way(device)
    resource = DeviceResource(device)
    for path, node in CONFIG.writes():
        assert resource.respond(write(path, node, ContentFormat.TLV)).code == Code.CHANGED
    answer = resource.respond(request(Code.GET, "/", accept=int(ContentFormat.LINK)))
    assert answer.code == Code.CONTENT
    assert answer.opt.content_format == ContentFormat.LINK
    links = parse_link_format(answer.payload)
    assert links[0] == Link("/", {"lwm2m": "1.1"})
    by_target = {link.target: dict(link.attributes) for link in links[1:]}
    # Security instances carry their uri, and a DM server's its ssid (LwM2M 1.1 5.2.7.5)
    assert by_target["/0/0"] == {"uri": device.tree.data[0][0][0]}
    assert by_target["/0/1"] == {"ssid": "7", "uri": device.tree.data[0][1][0]}
    assert by_target["/1/0"] == {"ssid": "7"}
    assert by_target["/3/0"] == {} and by_target["/5/0"] == {}
    # instances only, and every instance the device has
    expected = {f"/{o}/{i}" for o, instances in device.tree.data.items() for i in instances}
    assert set(by_target) == expected


async def test_bootstrap_discover_of_one_object() -> None:
    device = factory_device()
    bootstrap_under_way(device)
    resource = DeviceResource(device)
    for path, node in CONFIG.writes():
        resource.respond(write(path, node, ContentFormat.TLV))
    answer = resource.respond(request(Code.GET, "/0", accept=int(ContentFormat.LINK)))
    assert answer.code == Code.CONTENT
    targets = [link.target for link in parse_link_format(answer.payload)]
    assert targets == ["/", "/0/0", "/0/1"]
