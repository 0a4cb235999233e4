"""The simulated device's object tree over the real object model (objects/*.xml): the device side
of Read, Write, Execute, Create, Delete, Discover and Write-Attributes (LwM2M 1.1 TS Core 6.3)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lwm2m_mlaas.core.ddf import load_default
from lwm2m_mlaas.core.errors import Lwm2mError, ResponseCode
from lwm2m_mlaas.core.linkformat import format_link_format
from lwm2m_mlaas.core.nodes import (
    Lwm2mObject,
    MultiResource,
    Node,
    ObjectInstance,
    ResourceInstance,
    SingleResource,
    Value,
)
from lwm2m_mlaas.core.nodes import ResourceType as T
from lwm2m_mlaas.core.paths import Lwm2mPath
from lwm2m_mlaas.sim.objects import ObjectTree
from tests.helpers import expect_error

P = Lwm2mPath.parse
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MODEL = load_default()


def make_tree() -> ObjectTree:
    tree = ObjectTree(MODEL)
    values: dict[str, Value | dict[int, Value]] = {
        "/1/0/0": 1,
        "/1/0/1": 30,
        "/1/0/7": "U",
        "/1/1/0": 2,
        "/1/1/1": 60,
        "/1/1/7": "U",
        "/3/0/0": "lwm2m-mlaas",
        "/3/0/6": {0: 1, 1: 5},
        "/3/0/9": 100,
        "/3/0/13": NOW,
        "/5/0/0": b"",
        "/5/0/3": 0,
        "/32100/0/4": {0: "tflm", 1: "native-armv7em-hardfp"},
        "/32100/0/5": "gesture",
    }
    for path, value in values.items():
        tree.set(path, value)
    return tree


def test_read_object_instance_resource_and_resource_instance() -> None:
    tree = make_tree()
    assert tree.read(P("/1")) == Lwm2mObject.of(
        1,
        ObjectInstance.of(0, SingleResource(0, T.INTEGER, 1), SingleResource(1, T.INTEGER, 30),
                          SingleResource(7, T.STRING, "U")),
        ObjectInstance.of(1, SingleResource(0, T.INTEGER, 2), SingleResource(1, T.INTEGER, 60),
                          SingleResource(7, T.STRING, "U")),
    )  # fmt: skip
    # the write-only package /5/0/0 is left out of an instance read
    assert tree.read(P("/5/0")) == ObjectInstance.of(0, SingleResource(3, T.INTEGER, 0))
    assert tree.read(P("/3/0/13")) == SingleResource(13, T.TIME, NOW)
    assert tree.read(P("/3/0/6")) == MultiResource(6, T.INTEGER, {0: 1, 1: 5})
    assert tree.read(P("/3/0/6/1")) == ResourceInstance(1, T.INTEGER, 5)
    assert tree.get("/32100/0/5") == "gesture"


@pytest.mark.parametrize(
    "path",
    ["/4", "/2/0", "/3/1", "/3/0/20", "/3/0/99", "/3/0/6/2", "/3/0/9/0", "/32102/0/0"],
)
def test_read_not_found(path: str) -> None:
    with expect_error(ResponseCode.NOT_FOUND, f"{path} not found"):
        make_tree().read(P(path))


@pytest.mark.parametrize(("path", "shown"), [("/", "/"), ("/5/0/0", "/5/0/0")])
def test_read_not_allowed(path: str, shown: str) -> None:
    with expect_error(ResponseCode.METHOD_NOT_ALLOWED, f"read not allowed on {shown}"):
        make_tree().read(P(path))


def test_set_notifies_listeners_on_change_only() -> None:
    tree = make_tree()
    changed: list[str] = []
    tree.listeners.append(lambda p: changed.append(str(p)))
    tree.set("/3/0/9", 100)
    tree.set("/3/0/9", 99)
    tree.set(P("/3/0/10"), 4096)
    assert changed == ["/3/0/9", "/3/0/10"]


def test_write_resource_calls_writer_and_listeners() -> None:
    tree = make_tree()
    written: list[tuple[str, object]] = []
    changed: list[str] = []
    tree.on_write(1, 1, lambda p, v: written.append((str(p), v)))
    tree.listeners.append(lambda p: changed.append(str(p)))
    tree.write(P("/1/1/1"), SingleResource(1, T.INTEGER, 300), replace=True)
    assert tree.get("/1/1/1") == 300 and tree.get("/1/0/1") == 30
    assert written == [("/1/1/1", 300)]
    assert changed == ["/1/1/1"]


def test_write_instance_updates_given_resources() -> None:
    tree = make_tree()
    node = ObjectInstance.of(0, SingleResource(1, T.INTEGER, 90), SingleResource(7, T.STRING, "UQ"))
    tree.write(P("/1/0"), node, replace=False)
    assert (tree.get("/1/0/0"), tree.get("/1/0/1"), tree.get("/1/0/7")) == (1, 90, "UQ")


def test_write_multi_instance_resource_replace_vs_partial_update() -> None:
    tree = make_tree()
    runtimes = P("/32100/0/4")
    tree.write(runtimes, MultiResource(4, T.STRING, {2: "cmsis-nn"}), replace=False, bootstrap=True)
    assert tree.get(str(runtimes)) == {0: "tflm", 1: "native-armv7em-hardfp", 2: "cmsis-nn"}
    tree.write(runtimes, MultiResource(4, T.STRING, {1: "tflm-int8"}), replace=True, bootstrap=True)
    assert tree.get(str(runtimes)) == {1: "tflm-int8"}
    tree.write(P("/32100/0/4/3"), ResourceInstance(3, T.STRING, "x"), replace=True, bootstrap=True)
    assert tree.read(runtimes) == MultiResource(4, T.STRING, {1: "tflm-int8", 3: "x"})


@pytest.mark.parametrize(
    ("path", "node", "shown"),
    [
        ("/32100/0/4", MultiResource(4, T.STRING, {0: "x"}), "/32100/0/4"),
        ("/3/0/6/0", ResourceInstance(0, T.INTEGER, 2), "/3/0/6"),
        ("/3/0/0", SingleResource(0, T.STRING, "x"), "/3/0/0"),
        ("/5/0/3", SingleResource(3, T.INTEGER, 2), "/5/0/3"),
        # one read-only resource refuses the whole instance write
        (
            "/1/0",
            ObjectInstance.of(0, SingleResource(1, T.INTEGER, 5), SingleResource(0, T.INTEGER, 9)),
            "/1/0/0",
        ),
        ("/3", Lwm2mObject.of(3), "/3"),
        ("/", Lwm2mObject.of(3), "/"),
    ],
)
def test_write_not_allowed(path: str, node: Node, shown: str) -> None:
    tree = make_tree()
    before = {o: {i: dict(r) for i, r in inst.items()} for o, inst in tree.data.items()}
    with expect_error(ResponseCode.METHOD_NOT_ALLOWED, f"write not allowed on {shown}"):
        tree.write(P(path), node, replace=True)
    assert tree.data == before


@pytest.mark.parametrize(
    ("path", "node", "code", "message"),
    [
        ("/4/0/0", SingleResource(0, T.INTEGER, 1), ResponseCode.NOT_FOUND, "/4/0/0 not found"),
        ("/1/5", ObjectInstance.of(5), ResponseCode.NOT_FOUND, "/1/5 not found"),
        ("/1/0/99", SingleResource(99, T.INTEGER, 1), ResponseCode.NOT_FOUND, "/1/0/99 not found"),
        (
            "/1/0",
            SingleResource(1, T.INTEGER, 5),
            ResponseCode.BAD_REQUEST,
            "object instance write needs an instance payload",
        ),
        (
            "/1/0/1",
            ObjectInstance.of(0),
            ResponseCode.BAD_REQUEST,
            "resource write needs a resource payload",
        ),
        (
            "/3/0/6/0",
            SingleResource(6, T.INTEGER, 1),
            ResponseCode.BAD_REQUEST,
            "resource instance write needs a resource instance payload",
        ),
    ],
)
def test_write_refused(path: str, node: Node, code: ResponseCode, message: str) -> None:
    with expect_error(code, message):
        make_tree().write(P(path), node, replace=True)


def test_execute_runs_the_handler_with_arguments() -> None:
    tree = make_tree()
    calls: list[str] = []
    tree.on_execute("/1/0/8", calls.append)
    tree.execute(P("/1/0/8"), "0='a',1")
    tree.execute(P("/1/1/8"), "")  # executable, no handler: nothing happens
    assert calls == ["0='a',1"]


def test_execute_handler_error_propagates() -> None:
    tree = make_tree()

    def refuse(_arguments: str) -> None:
        raise Lwm2mError("not now", code=ResponseCode.METHOD_NOT_ALLOWED)

    tree.on_execute("/1/0/4", refuse)
    with expect_error(ResponseCode.METHOD_NOT_ALLOWED, "not now"):
        tree.execute(P("/1/0/4"), "")


@pytest.mark.parametrize(
    ("path", "code", "message"),
    [
        ("/1/0/1", ResponseCode.METHOD_NOT_ALLOWED, "execute not allowed on /1/0/1"),
        ("/1/0", ResponseCode.METHOD_NOT_ALLOWED, "execute not allowed on /1/0"),
        ("/1/0/8/0", ResponseCode.METHOD_NOT_ALLOWED, "execute not allowed on /1/0/8/0"),
        ("/1/0/99", ResponseCode.NOT_FOUND, "/1/0/99 not found"),
        ("/1/7/8", ResponseCode.NOT_FOUND, "/1/7/8 not found"),
        ("/32101/0/7", ResponseCode.NOT_FOUND, "/32101/0/7 not found"),
    ],
)
def test_execute_refused(path: str, code: ResponseCode, message: str) -> None:
    with expect_error(code, message):
        make_tree().execute(P(path), "")


def test_create_instance() -> None:
    tree = make_tree()
    changed: list[str] = []
    tree.listeners.append(lambda p: changed.append(str(p)))
    node = ObjectInstance.of(2, SingleResource(0, T.INTEGER, 3), SingleResource(1, T.INTEGER, 45))
    assert tree.create(P("/1"), node) == 2
    assert tree.read(P("/1/2")) == node
    assert changed[-1] == "/1"
    # an object wrapping one instance is accepted too; a single-instance object with no
    # instance yet takes one
    inference = ObjectInstance.of(0, SingleResource(2, T.INTEGER, 0))
    assert tree.create(P("/32101"), Lwm2mObject.of(32101, inference)) == 0
    assert tree.read(P("/32101/0")) == inference


@pytest.mark.parametrize(
    ("path", "node", "code", "message"),
    [
        ("/1", ObjectInstance.of(0), ResponseCode.BAD_REQUEST, "/1/0 exists"),
        ("/3", ObjectInstance.of(1), ResponseCode.BAD_REQUEST, "/3/1 exists"),
        (
            "/1",
            SingleResource(0, T.INTEGER, 1),
            ResponseCode.BAD_REQUEST,
            "create needs one object instance",
        ),
        (
            "/1",
            Lwm2mObject.of(1, ObjectInstance.of(5), ObjectInstance.of(6)),
            ResponseCode.BAD_REQUEST,
            "create needs one object instance",
        ),
        ("/4", ObjectInstance.of(0), ResponseCode.NOT_FOUND, "/4 not found"),
        (
            "/1/3",
            ObjectInstance.of(3),
            ResponseCode.METHOD_NOT_ALLOWED,
            "create not allowed on /1/3",
        ),
        ("/", ObjectInstance.of(3), ResponseCode.METHOD_NOT_ALLOWED, "create not allowed on /"),
    ],
)
def test_create_refused(path: str, node: Node, code: ResponseCode, message: str) -> None:
    tree = make_tree()
    with expect_error(code, message):
        tree.create(P(path), node)
    assert sorted(tree.data[1]) == [0, 1]


def test_delete_instance() -> None:
    tree = make_tree()
    changed: list[str] = []
    tree.listeners.append(lambda p: changed.append(str(p)))
    tree.delete(P("/1/1"))
    assert sorted(tree.data[1]) == [0]
    assert changed == ["/1"]
    with expect_error(ResponseCode.NOT_FOUND, "/1/1 not found"):
        tree.read(P("/1/1"))


@pytest.mark.parametrize(
    ("path", "code", "message"),
    [
        ("/1/0", ResponseCode.METHOD_NOT_ALLOWED, "delete not allowed on /1/0"),
        ("/3/0", ResponseCode.METHOD_NOT_ALLOWED, "delete not allowed on /3/0"),
        ("/1", ResponseCode.METHOD_NOT_ALLOWED, "delete not allowed on /1"),
        ("/1/0/1", ResponseCode.METHOD_NOT_ALLOWED, "delete not allowed on /1/0/1"),
        ("/1/9", ResponseCode.NOT_FOUND, "/1/9 not found"),
        ("/4/0", ResponseCode.NOT_FOUND, "/4/0 not found"),
    ],
)
def test_delete_refused(path: str, code: ResponseCode, message: str) -> None:
    with expect_error(code, message):
        make_tree().delete(P(path))


def discover(tree: ObjectTree, path: str) -> str:
    return format_link_format(tree.discover(P(path)))


def test_discover_object_instance_and_resource() -> None:
    tree = make_tree()
    assert discover(tree, "/3") == "</3>,</3/0>,</3/0/0>,</3/0/6>;dim=2,</3/0/9>,</3/0/13>"
    assert discover(tree, "/3/0") == "</3/0>,</3/0/0>,</3/0/6>;dim=2,</3/0/9>,</3/0/13>"
    assert discover(tree, "/3/0/6") == "</3/0/6>;dim=2,</3/0/6/0>,</3/0/6/1>"
    assert discover(tree, "/3/0/9") == "</3/0/9>"
    assert discover(tree, "/1/1") == "</1/1>,</1/1/0>,</1/1/1>,</1/1/7>"


def test_discover_shows_written_attributes() -> None:
    tree = make_tree()
    tree.write_attributes(P("/3"), {"pmin": "10"})
    tree.write_attributes(P("/3/0"), {"pmax": "60"})
    tree.write_attributes(P("/3/0/6"), {"gt": "50", "lt": "42.2", "pmax": "30"})
    tree.write_attributes(P("/3/0/6/1"), {"epmax": "2"})
    assert discover(tree, "/3") == ("</3>;pmin=10,</3/0>;pmax=60,</3/0/0>,"
                                    "</3/0/6>;gt=50;lt=42.2;pmax=30;dim=2,</3/0/9>,</3/0/13>")
    # a resource: with what it inherits (its own first), and its instances with theirs
    assert discover(tree, "/3/0/6") == ("</3/0/6>;pmin=10;pmax=30;gt=50;lt=42.2;dim=2,"
                                        "</3/0/6/0>,</3/0/6/1>;epmax=2")
    assert discover(tree, "/3/0/9") == "</3/0/9>;pmin=10;pmax=60"


@pytest.mark.parametrize("path", ["/", "/4", "/3/1", "/3/0/99", "/3/0/20"])
def test_discover_not_found(path: str) -> None:
    with expect_error(ResponseCode.NOT_FOUND, f"{path} not found"):
        make_tree().discover(P(path))


def test_write_attributes_set_and_remove() -> None:
    tree = make_tree()
    tree.write_attributes(P("/3/0/9"), {"pmin": "5", "pmax": "60", "st": "1.5"})
    tree.write_attributes(P("/3/0/9"), {"pmax": None, "st": ""})
    assert tree.attributes[P("/3/0/9")] == {"pmin": "5"}
    tree.write_attributes(P("/3/0/6/1"), {"epmin": "1", "epmax": "2"})
    assert tree.attributes[P("/3/0/6/1")] == {"epmin": "1", "epmax": "2"}


@pytest.mark.parametrize(
    ("path", "attributes", "code", "message"),
    [
        ("/3/0/9", {"pmin": "1", "foo": "2"}, ResponseCode.BAD_REQUEST, "unknown attribute 'foo'"),
        (
            "/3/0/9",
            {"pmin": "1", "pmax": "soon"},
            ResponseCode.BAD_REQUEST,
            "attribute pmax='soon' is not a number",
        ),
        ("/", {"pmin": "1"}, ResponseCode.NOT_FOUND, "/ not found"),
        ("/4", {"pmin": "1"}, ResponseCode.NOT_FOUND, "/4 not found"),
        ("/3/7", {"pmin": "1"}, ResponseCode.NOT_FOUND, "/3/7 not found"),
        ("/3/0/20", {"pmin": "1"}, ResponseCode.NOT_FOUND, "/3/0/20 not found"),
        ("/3/0/6/4", {"pmin": "1"}, ResponseCode.NOT_FOUND, "/3/0/6/4 not found"),
    ],
)
def test_write_attributes_refused_changes_nothing(
    path: str, attributes: dict[str, str | None], code: ResponseCode, message: str
) -> None:
    tree = make_tree()
    tree.write_attributes(P("/3/0/9"), {"pmin": "7"})
    with expect_error(code, message):
        tree.write_attributes(P(path), attributes)
    assert {p: a for p, a in tree.attributes.items() if a} == {P("/3/0/9"): {"pmin": "7"}}


def test_attribute_is_inherited_from_instance_and_object() -> None:
    tree = make_tree()
    tree.write_attributes(P("/3"), {"pmin": "10", "pmax": "300"})
    tree.write_attributes(P("/3/0"), {"pmax": "60"})
    tree.write_attributes(P("/3/0/9"), {"pmin": "5"})
    assert tree.attribute(P("/3/0/9"), "pmin") == 5.0
    assert tree.attribute(P("/3/0/9"), "pmax") == 60.0
    assert tree.attribute(P("/3/0/13"), "pmin") == 10.0
    assert tree.attribute(P("/3/0/6/1"), "pmax") == 60.0
    assert tree.attribute(P("/3"), "pmax") == 300.0
    assert tree.attribute(P("/3/0/9"), "gt") is None
    assert tree.attribute(P("/1/0/1"), "pmin") is None
    tree.write_attributes(P("/3/0/9"), {"pmin": None})
    assert tree.attribute(P("/3/0/9"), "pmin") == 10.0


def test_leaf_paths() -> None:
    tree = make_tree()
    assert [str(p) for p in tree.leaf_paths(P("/1/1"))] == ["/1/1/0", "/1/1/1", "/1/1/7"]
    assert [str(p) for p in tree.leaf_paths(P("/3/0/6/1"))] == ["/3/0/6"]
    assert len(list(tree.leaf_paths(P("/")))) == 14
