"""Leshan 2.0 demo-server JSON shapes (research/leshan/API.md sections 1.3, 2, 3 and 5)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from lwm2m_mlaas.api import leshan
from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.ddf import load_default
from lwm2m_mlaas.core.errors import InvalidRequest, ResponseCode
from lwm2m_mlaas.core.linkformat import Link
from lwm2m_mlaas.core.model import ObjectRegistry
from lwm2m_mlaas.core.nodes import (
    Lwm2mObject,
    MultiResource,
    Node,
    ObjectInstance,
    ObjectLink,
    ResourceInstance,
    ResourceType,
    SingleResource,
    Value,
)
from lwm2m_mlaas.core.paths import Lwm2mPath
from lwm2m_mlaas.core.registration import Registration
from lwm2m_mlaas.core.requests import Operation, Response
from lwm2m_mlaas.core.security import SecurityInfo

T = ResourceType
MODEL: ObjectRegistry = load_default()
P = Lwm2mPath.of
WHEN = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
WHEN_MS = 1704164645678

# ---- java_double ----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    (1.0, "1.0"), (12.5, "12.5"), (0.001, "0.001"), (1e7, "1.0E7"), (1.5e-4, "1.5E-4"),
    (123456789.0, "1.23456789E8"), (-0.0, "-0.0"), (0.0, "0.0"), (0.1, "0.1"),
    (1234567.0, "1234567.0"), (9999999.0, "9999999.0"), (100.0, "100.0"), (-2.5, "-2.5"),
    (1e-5, "1.0E-5"), (3.5e10, "3.5E10"), (1 / 3, "0.3333333333333333"),
    (9.999999999999998e-4, "9.999999999999998E-4"),
    (1.7976931348623157e308, "1.7976931348623157E308"),
    (math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity"),
])  # fmt: skip
def test_java_double_matches_double_to_string(value: float, text: str) -> None:
    # expectations checked against Temurin 25's Double.toString (JDK 19+ shortest algorithm)
    assert leshan.java_double(value) == text


# ---- values and nodes -----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "type_", "shaped"), [
    (-42, T.INTEGER, "-42"), (86400, T.UNSIGNED_INTEGER, "86400"), (3.5e10, T.FLOAT, "3.5E10"),
    (2, T.FLOAT, "2.0"), (True, T.BOOLEAN, True), (False, T.BOOLEAN, False),
    (b"\x00\xab\xff", T.OPAQUE, "00abff"), (WHEN, T.TIME, WHEN_MS),
    (ObjectLink(3, 0), T.OBJLNK, {"objectId": 3, "objectInstanceId": 0, "nullLink": False}),
    (ObjectLink(0xFFFF, 0xFFFF), T.OBJLNK,
     {"objectId": 65535, "objectInstanceId": 65535, "nullLink": True}),
    ("Zephyr", T.STRING, "Zephyr"), ("</3/0>;ver=1.1,</1/0>", T.CORELNK, "</3/0>;ver=1.1,</1/0>"),
])  # fmt: skip
def test_value_json(value: Value, type_: ResourceType, shaped: Any) -> None:
    result = leshan.value_json(value, type_)
    assert result == shaped
    assert type(result) is type(shaped)


def test_node_json_every_kind() -> None:
    single = SingleResource(0, T.STRING, "Zephyr")
    multi = MultiResource(6, T.INTEGER, {1: 5, 0: 1})
    single_json = {"id": 0, "kind": "singleResource", "type": "STRING", "value": "Zephyr"}
    multi_json = {"id": 6, "kind": "multiResource", "type": "INTEGER",
                  "values": {"0": "1", "1": "5"}}  # fmt: skip
    assert leshan.node_json(single) == single_json
    assert leshan.node_json(multi) == multi_json
    assert list(leshan.node_json(multi)["values"]) == ["0", "1"]
    ri_json = {"id": 1, "kind": "resourceInstance", "type": "TIME", "value": WHEN_MS}
    assert leshan.node_json(ResourceInstance(1, T.TIME, WHEN)) == ri_json
    instance = ObjectInstance.of(0, multi, single)
    instance_json = {"id": 0, "kind": "instance", "resources": [single_json, multi_json]}
    assert leshan.node_json(instance) == instance_json
    assert leshan.node_json(Lwm2mObject.of(3, ObjectInstance(1), instance)) == {
        "id": 3, "kind": "obj",
        "instances": [instance_json, {"id": 1, "kind": "instance", "resources": []}]}  # fmt: skip
    corelnk = leshan.node_json(SingleResource(1, T.CORELNK, "</3>"))
    assert corelnk["type"] == "CORELINK"


DEVICE = ObjectInstance.of(
    0, SingleResource(0, T.STRING, "Zephyr"), SingleResource(9, T.INTEGER, 87),
    MultiResource(11, T.INTEGER, {0: 0, 3: 2}), SingleResource(13, T.TIME, WHEN),
    SingleResource(14, T.STRING, "+01:00"),
)  # fmt: skip


@pytest.mark.parametrize(("node", "path"), [
    *((r, P(3, 0)) for r in DEVICE.resources.values()),
    *((r, P(3, 0, r.id)) for r in DEVICE.resources.values()),
    *((ResourceInstance(3, T.INTEGER, 2), path) for path in (P(3, 0, 11, 3), P(3, 0, 11))),
    (SingleResource(4, T.FLOAT, 0.25), P(32101, 0)),
    (SingleResource(6, T.BOOLEAN, True), P(32101, 0, 6)),
    (SingleResource(0, T.OPAQUE, b"\x01\xfe"), P(5, 0, 0)),
    (MultiResource(22, T.OBJLNK, {0: ObjectLink(32100, 0)}), P(3, 0)),
    (DEVICE, P(3, 0)), (DEVICE, P(3)), (Lwm2mObject.of(3, DEVICE, ObjectInstance(1)), P(3)),
])  # fmt: skip
def test_node_from_json_round_trip(node: Node, path: Lwm2mPath) -> None:
    assert leshan.node_from_json(leshan.node_json(node), path, MODEL) == node


def test_node_from_json_null_objlnk_round_trip() -> None:
    node = MultiResource(22, T.OBJLNK, {0: ObjectLink(0xFFFF, 0xFFFF)})
    assert leshan.node_from_json(leshan.node_json(node), P(3, 0), MODEL) == node


@pytest.mark.parametrize(("element", "path", "node"), [
    ({"id": "14", "kind": "singleResource", "type": "STRING", "value": "+02:00"}, P(3, 0),
     SingleResource(14, T.STRING, "+02:00")),
    ({"id": 9, "kind": "singleResource", "type": "integer", "value": "42"}, P(3, 0, 9),
     SingleResource(9, T.INTEGER, 42)),
    *(({"id": 9, "value": v}, P(3, 0), SingleResource(9, T.INTEGER, 42)) for v in (42, 42.0)),
    ({"id": 13, "value": 1700000000000}, P(3, 0),
     SingleResource(13, T.TIME, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC))),
    ({"id": 11, "values": {"0": "1", "7": 2}}, P(3, 0), MultiResource(11, T.INTEGER, {0: 1, 7: 2})),
    ({"id": 4, "type": "integer", "value": 3}, P(32101, 0), SingleResource(4, T.FLOAT, 3.0)),
    ({"id": 4, "type": "FLOAT", "value": "1.5E-4"}, P(32101, 0),
     SingleResource(4, T.FLOAT, 1.5e-4)),
    ({"id": 9, "type": "STRING", "value": "42"}, P(3, 0), SingleResource(9, T.INTEGER, 42)),
    ({"id": 1, "type": "STRING", "value": "x"}, P(999, 0), SingleResource(1, T.STRING, "x")),
    ({"resources": [{"id": 0, "value": "Acme"}]}, P(3, 0),
     ObjectInstance.of(0, SingleResource(0, T.STRING, "Acme"))),
    ({"id": 2, "kind": "instance", "resources": []}, P(3), ObjectInstance(2)),
])  # fmt: skip
def test_node_from_json_lenient_forms(element: dict[str, Any], path: Lwm2mPath,
                                      node: Node) -> None:  # fmt: skip
    assert leshan.node_from_json(element, path, MODEL) == node


def _res(id_: Any, type_: str, value: Any) -> dict[str, Any]:
    return {"id": id_, "kind": "singleResource", "type": type_, "value": value}


@pytest.mark.parametrize(("element", "path", "message"), [
    ([], P(3, 0), "must be a JSON object"), ("x", P(3, 0), "must be a JSON object"),
    *((_res(bad, "STRING", "a"), P(3, 0), "not an id in 0..65535") for bad in ("x", -1, 70000)),
    *((_res(bad, "STRING", "a"), P(3, 0), "'id' must be an integer") for bad in (True, None, 1.0)),
    ({"id": 0, "kind": "bogus", "value": "a"}, P(3, 0), "unknown node kind 'bogus'"),
    (_res(0, "TEXT", "a"), P(3, 0), "unknown type 'TEXT'"),
    ({"id": 1, "value": "a"}, P(999, 0), "'type' is missing"),
    (_res(6, "BOOLEAN", "true"), P(32101, 0), "must be true or false"),
    *((_res(0, "OPAQUE", bad), P(5, 0), "must be a hexadecimal string") for bad in ("zz", "abc")),
    (_res(13, "TIME", "1700000000000"), P(3, 0), "milliseconds since the epoch"),
    (_res(9, "INTEGER", 1.5), P(3, 0), "must be an integer"),
    (_res(9, "INTEGER", "9" * 30), P(3, 0), "out of range for Integer"),
    (_res(4, "FLOAT", math.nan), P(32101, 0), "not a valid Float"),
    (_res(0, "STRING", 5), P(3, 0), "must be a string"),
    (_res(9, "BOOLEAN", True), P(3, 0), "the object model says Integer"),
    (_res(9, "STRING", "nine"), P(3, 0), "not a valid Integer"),
    (_res(22, "OBJLNK", {"objectId": 3}), P(3, 0), "objectInstanceId must be an integer"),
    ({"id": 11, "kind": "multiResource", "values": {"a": "1"}}, P(3, 0), "not an id"),
    ({"id": 11, "kind": "multiResource", "values": ["1"]}, P(3, 0), "'values' must be an object"),
    ({"id": 9, "kind": "singleResource", "type": "INTEGER"}, P(3, 0), "needs 'value'"),
    ({"kind": "instance", "resources": []}, P(3), "the instance needs an 'id'"),
    ({"kind": "instance", "resources": []}, Lwm2mPath(()), "in an object path"),
    ({"id": 0, "resources": [_res(0, "STRING", "a"), _res(0, "STRING", "b")]}, P(3),
     "a resource id appears twice"),
    ({"id": 0, "resources": {"0": "a"}}, P(3), "'resources' must be a list"),
    ({"id": 0, "resources": [{"id": 11, "kind": "resourceInstance", "value": "1"}]}, P(3),
     "holds resources only"),
    ({"id": 3, "kind": "obj", "instances": {}}, P(3), "'instances' must be a list"),
    ({"id": 3, "kind": "obj", "instances": [{"resources": []}]}, P(3), "needs an 'id'"),
    ({"id": 3, "kind": "obj", "instances": ["x"]}, P(3), "must be a JSON object"),
])  # fmt: skip
def test_node_from_json_errors(element: Any, path: Lwm2mPath, message: str) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(message)):
        leshan.node_from_json(element, path, MODEL)


@pytest.mark.parametrize("element", [_res(9, "INTEGER", "9" * 30), _res(9, "STRING", "nine")])
def test_node_from_json_value_errors_name_the_path(element: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as caught:
        leshan.node_from_json(element, P(3, 0), MODEL)
    assert str(caught.value).startswith("/3/0")
    assert "/: " not in str(caught.value)


# ---- text/plain bodies ----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "path", "node"), [
    ("42", P(3, 0, 9), SingleResource(9, T.INTEGER, 42)),
    ("7", P(3, 0, 11, 2), ResourceInstance(2, T.INTEGER, 7)),
    ("+02:00", P(3, 0, 14), SingleResource(14, T.STRING, "+02:00")),
    ("1700000000", P(3, 0, 13),
     SingleResource(13, T.TIME, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC))),
    ("0.5", P(32101, 0, 4), SingleResource(4, T.FLOAT, 0.5)),
    ("1", P(32101, 0, 6), SingleResource(6, T.BOOLEAN, True)),
    ("AQID", P(5, 0, 0), SingleResource(0, T.OPAQUE, b"\x01\x02\x03")),
    ("hello", P(999, 0, 1), SingleResource(1, T.STRING, "hello")),
])  # fmt: skip
def test_text_node(text: str, path: Lwm2mPath, node: Node) -> None:
    assert leshan.text_node(text, path, MODEL) == node


@pytest.mark.parametrize(("text", "path"), [
    ("x", P(3, 0)), ("abc", P(3, 0, 9)), ("!!not base64", P(5, 0, 0)), ("true", P(32101, 0, 6)),
])  # fmt: skip
def test_text_node_errors(text: str, path: Lwm2mPath) -> None:
    with pytest.raises(InvalidRequest):
        leshan.text_node(text, path, MODEL)


# ---- registrations --------------------------------------------------------------------------


def _registration(**changes: Any) -> Registration:
    fields: dict[str, Any] = {
        "id": "aB3dE5gH7j", "endpoint": "zephyr-1", "host": "192.0.2.1", "port": 5684,
        "lifetime": 300, "lwm2m_version": "1.1", "binding": "U", "queue_mode": False,
        "object_links": (
            Link("/", {"rt": "oma.lwm2m", "ct": "11543"}), Link("/1", {"ver": "1.1"}),
            Link("/1/0"), Link("/3", {"ver": "1.1"}), Link("/3/0"), Link("/5", {"obs": None}),
            Link("/32100/1"), Link("/32100/0")),
        "registration_date": 1700000000.5, "last_update": 1700000100.25,
        "secure": True, "additional_attributes": {"apn": "internet"},
    }  # fmt: skip
    return Registration(**{**fields, **changes})


def test_registration_json_exact() -> None:
    shaped = leshan.registration_json(_registration())
    assert list(shaped.items()) == [
        ("endpoint", "zephyr-1"), ("registrationId", "aB3dE5gH7j"),
        ("registrationDate", 1700000000500), ("lastUpdate", 1700000100250),
        ("address", "192.0.2.1:5684"), ("lwM2mVersion", "1.1"), ("lifetime", 300),
        ("bindingMode", "U"), ("rootPath", "/"),
        ("objectLinks", [
            {"url": "/", "attributes": {"rt": '"oma.lwm2m"', "ct": "11543"}},
            {"url": "/1", "attributes": {"ver": "1.1"}}, {"url": "/1/0", "attributes": {}},
            {"url": "/3", "attributes": {"ver": "1.1"}}, {"url": "/3/0", "attributes": {}},
            {"url": "/5", "attributes": {"obs": None}}, {"url": "/32100/1", "attributes": {}},
            {"url": "/32100/0", "attributes": {}}]),
        ("secure", True), ("additionalRegistrationAttributes", {"apn": "internet"}),
        ("queuemode", False), ("availableInstances", {"1": [0], "3": [0], "32100": [0, 1]}),
    ]  # fmt: skip


def test_registration_json_sms_queue_and_ipv6() -> None:
    shaped = leshan.registration_json(_registration(
        host="::1", port=5683, sms="+15550100", lwm2m_version="1.0", queue_mode=True,
        object_links=(Link("/lwm2m", {"rt": "oma.lwm2m"}), Link("/lwm2m/3/0"),
                      Link("/3/1"), Link("/lwm2m/1", {"ct": "60 110"}))))  # fmt: skip
    assert list(shaped)[4:7] == ["address", "smsNumber", "lwM2mVersion"]
    assert shaped["address"] == "0:0:0:0:0:0:0:1:5683"
    assert shaped["smsNumber"] == "+15550100"
    assert shaped["bindingMode"] == "UQ"
    assert shaped["rootPath"] == "/lwm2m/"
    assert shaped["availableInstances"] == {"3": [0]}
    assert shaped["objectLinks"][3] == {"url": "/lwm2m/1", "attributes": {"ct": '"60 110"'}}
    assert list(shaped)[-2:] == ["availableInstances", "sleeping"]
    assert shaped["sleeping"] is False
    queued = _registration(queue_mode=True)
    assert leshan.registration_json(queued, awake=False)["sleeping"] is True
    assert leshan.registration_json(queued, awake=True)["sleeping"] is False
    one_one = leshan.registration_json(_registration(queue_mode=True, lwm2m_version="1.1"))
    assert (one_one["bindingMode"], one_one["queuemode"]) == ("U", True)
    assert "sleeping" not in leshan.registration_json(_registration(), awake=False)


@pytest.mark.parametrize(("host", "shown"), [
    ("192.0.2.1", "192.0.2.1"), ("::1", "0:0:0:0:0:0:0:1"),
    ("2001:db8::ff00:42:8329", "2001:db8:0:0:0:ff00:42:8329"), ("device.local", "device.local"),
])  # fmt: skip
def test_java_host(host: str, shown: str) -> None:
    # expectations checked against InetAddress.getByName(host).getHostAddress()
    assert leshan.java_host(host) == shown


def test_registration_json_scoped_ipv6_host() -> None:
    shaped = leshan.registration_json(_registration(host="fe80::1%eth0", port=5683))
    assert shaped["address"] == "fe80:0:0:0:0:0:0:1%eth0:5683"


# ---- responses ------------------------------------------------------------------------------

C = ResponseCode
OK = {"valid": True, "success": True, "failure": False}


def _response(operation: Operation, code: ResponseCode, **fields: Any) -> dict[str, Any]:
    return leshan.response_json(operation, Response(code, **fields))


def test_response_json_read_success() -> None:
    shaped = _response(Operation.READ, C.CONTENT, node=SingleResource(0, T.STRING, "Zephyr"))
    assert list(shaped.items()) == [
        ("status", "CONTENT(205)"), ("valid", True), ("success", True), ("failure", False),
        ("content", {"id": 0, "kind": "singleResource", "type": "STRING", "value": "Zephyr"}),
    ]  # fmt: skip


def test_response_json_failures_and_fields() -> None:
    assert _response(Operation.READ, C.NOT_FOUND, error="no such resource") == {
        "status": "NOT_FOUND(404)", "valid": True, "success": False, "failure": True,
        "errormessage": "no such resource"}  # fmt: skip
    assert "errormessage" not in _response(Operation.READ, C.NOT_FOUND)
    assert _response(Operation.WRITE, C.CHANGED, error="x") == {"status": "CHANGED(204)", **OK}
    assert _response(Operation.CREATE, C.CREATED, location="/32100/1") == {
        "status": "CREATED(201)", **OK, "location": "/32100/1"}  # fmt: skip
    links = (Link("/3", {"ver": "1.1"}), Link("/3/0/7", {"dim": "2", "pmin": "10"}))
    assert _response(Operation.DISCOVER, C.CONTENT, links=links) == {
        "status": "CONTENT(205)", **OK,
        "objectLinks": [{"url": "/3", "attributes": {"ver": "1.1"}},
                        {"url": "/3/0/7", "attributes": {"dim": "2", "pmin": "10"}}]}  # fmt: skip
    nodes: dict[Lwm2mPath, Node] = {P(3, 0, 9): SingleResource(9, T.INTEGER, 5),
                                    P(1): Lwm2mObject(1)}  # fmt: skip
    assert _response(Operation.READ_COMPOSITE, C.CONTENT, nodes=nodes)["content"] == {
        "/3/0/9": {"id": 9, "kind": "singleResource", "type": "INTEGER", "value": "5"},
        "/1": {"id": 1, "kind": "obj", "instances": []}}  # fmt: skip
    assert _response(Operation.OBSERVE, C.CHANGED)["success"] is True
    assert _response(Operation.DELETE, C.DELETED)["status"] == "DELETED(202)"


def test_response_json_unusual_codes() -> None:
    assert leshan.response_json(Operation.READ, Response.timeout()) == {
        "status": "UNKNOWN(504)", "valid": False, "success": False, "failure": True,
        "errormessage": "Request timeout"}  # fmt: skip
    forbidden = _response(Operation.WRITE, C.FORBIDDEN)
    assert (forbidden["status"], forbidden["valid"]) == ("FORBIDDEN(403)", False)


@pytest.mark.parametrize(("operation", "code", "valid"), [
    (Operation.READ, C.NOT_ACCEPTABLE, True), (Operation.WRITE, C.NOT_ACCEPTABLE, False),
    (Operation.WRITE, C.REQUEST_ENTITY_TOO_LARGE, True), (Operation.DELETE, C.DELETED, True),
    (Operation.CREATE, C.UNSUPPORTED_CONTENT_FORMAT, True),
    (Operation.DELETE, C.UNSUPPORTED_CONTENT_FORMAT, False),
    (Operation.READ_COMPOSITE, C.UNSUPPORTED_CONTENT_FORMAT, True),
    (Operation.EXECUTE, C.UNAUTHORIZED, True), (Operation.EXECUTE, C.CONTENT, False),
    (Operation.DISCOVER, C.INTERNAL_SERVER_ERROR, True),
])  # fmt: skip
def test_response_json_valid(operation: Operation, code: ResponseCode, valid: bool) -> None:
    assert _response(operation, code)["valid"] is valid


@pytest.mark.parametrize(("code", "text"), [
    (C.CREATED, "CREATED(201)"), (C.CHANGED, "CHANGED(204)"), (C.BAD_REQUEST, "BAD_REQUEST(400)"),
    (C.REQUEST_ENTITY_INCOMPLETE, "REQUEST_ENTITY_INCOMPLETE(408)"),
    (C.PRECONDITION_FAILED, "PRECONDITION_FAILED(412)"),
    (C.UNSUPPORTED_CONTENT_FORMAT, "UNSUPPORTED_CONTENT_FORMAT(415)"),
    (C.INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR(500)"), (C.VALID, "UNKNOWN(203)"),
    (C.BAD_OPTION, "UNKNOWN(402)"), (C.NOT_IMPLEMENTED, "UNKNOWN(501)"),
    (C.SERVICE_UNAVAILABLE, "UNKNOWN(503)"),
])  # fmt: skip
def test_status_text(code: ResponseCode, text: str) -> None:
    assert leshan.status_text(code) == text


# ---- security -------------------------------------------------------------------------------


def _tls(identity: Any = "ep1", key: Any = "73656372", mode: Any = "psk") -> dict[str, Any]:
    return {"endpoint": "ep1", "tls": {"mode": mode, "details": {"identity": identity,
                                                                 "key": key}}}  # fmt: skip


def test_security_json_round_trip() -> None:
    info = SecurityInfo("ep1", "ep1", b"secr")
    assert leshan.security_json(info) == _tls()
    assert leshan.security_from_json(_tls()) == info
    old = {"endpoint": "ep1", "psk": {"identity": "ep1", "key": "73656372"}}
    assert leshan.security_from_json(old) == info
    upper = leshan.security_json(leshan.security_from_json(_tls(key="ABCD")))
    assert upper["tls"]["details"]["key"] == "abcd"


@pytest.mark.parametrize(("body", "message"), [
    ([], "must be a JSON object"), ("ep1", "must be a JSON object"),
    ({"tls": _tls()["tls"]}, "'endpoint' must be a non-empty string"),
    ({**_tls(), "endpoint": ""}, "'endpoint' must be a non-empty string"),
    (_tls(mode="rpk"), "tls mode 'rpk' is not supported"),
    ({"endpoint": "ep1", "tls": "psk"}, "tls mode 'psk' is not supported"),
    ({"endpoint": "ep1"}, "needs 'tls'"),
    ({"endpoint": "ep1", "tls": {"mode": "psk"}}, "PSK details must be an object"),
    *((_tls(key=bad), "even number of hexadecimal digits") for bad in ("abc", "zz", "")),
    (_tls(key=1234), "must be strings"),
    (_tls(identity=""), "PSK identity must be 1 to 32 bytes"),
    (_tls(identity=None), "must be strings"),
])  # fmt: skip
def test_security_from_json_errors(body: Any, message: str) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(message)):
        leshan.security_from_json(body)


# ---- content formats ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fmt"), [
    ("tlv", ContentFormat.TLV), ("TLV", ContentFormat.TLV), ("Text", ContentFormat.TEXT),
    ("senml_json", ContentFormat.SENML_JSON), ("SENML_CBOR", ContentFormat.SENML_CBOR),
    ("json", ContentFormat.JSON), ("opaque", ContentFormat.OPAQUE), ("cbor", ContentFormat.CBOR),
    ("link", ContentFormat.LINK), (None, None), ("", None),
])  # fmt: skip
def test_content_format(name: str | None, fmt: ContentFormat | None) -> None:
    assert leshan.content_format(name) is fmt


def test_content_format_unknown() -> None:
    with pytest.raises(InvalidRequest, match="unknown format 'xml'; one of TLV"):
        leshan.content_format("xml")
    with pytest.raises(InvalidRequest, match="unknown accept 'senml'"):
        leshan.content_format("senml", "accept")
