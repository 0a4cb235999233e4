"""Register / Update parsing (LwM2M 1.1 TS Core 6.2, Transport 6.4) with the payload forms Zephyr
and other clients send, and the Registration value built from them."""

from __future__ import annotations

import dataclasses

import pytest

from lwm2m_mlaas.core.errors import CodecError, InvalidRequest, Lwm2mError, ResponseCode
from lwm2m_mlaas.core.linkformat import Link
from lwm2m_mlaas.core.registration import (
    DEFAULT_LIFETIME,
    Registration,
    RegistrationParams,
    UnsupportedVersion,
    parse_register,
    parse_update,
    split_query,
)

QUERY_1_1 = ["ep=zephyr-1", "lt=30", "lwm2m=1.1", "b=U"]


def registration(params: RegistrationParams, host: str = "192.0.2.1") -> Registration:
    """What the server builds from a Register request (server/registration.py)."""
    assert params.endpoint and params.lifetime and params.object_links is not None
    return Registration(
        id="r1", endpoint=params.endpoint, host=host, port=5683, lifetime=params.lifetime,
        lwm2m_version=params.lwm2m_version or "1.0", binding=params.binding or "U",
        queue_mode=bool(params.queue_mode), sms=params.sms, object_links=params.object_links,
        registration_date=1000.0, last_update=1000.0,
        additional_attributes=params.additional_attributes,
    )  # fmt: skip


def test_zephyr_senml_cbor_form() -> None:
    params = parse_register(QUERY_1_1, b"</>;ct=112,</1/0>,</3/0>,</5/0>", 40)
    assert params == RegistrationParams(
        endpoint="zephyr-1", lifetime=30, lwm2m_version="1.1", binding="U", queue_mode=False,
        sms=None, additional_attributes={},
        object_links=(Link("/", {"ct": "112"}), Link("/1/0"), Link("/3/0"), Link("/5/0")),
    )  # fmt: skip
    reg = registration(params)
    assert reg.root_path == "/"
    assert reg.available_instances == {1: (0,), 3: (0,), 5: (0,)}
    assert reg.object_versions == {}
    assert reg.links_text == "</>;ct=112,</1/0>,</3/0>,</5/0>"


def test_rt_oma_lwm2m_with_senml_json_form() -> None:
    payload = b'</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>,</5/0>'
    params = parse_register(QUERY_1_1, payload)
    assert params.object_links is not None
    assert dict(params.object_links[0].attributes) == {"rt": "oma.lwm2m", "ct": "11543"}
    reg = registration(params)
    assert reg.root_path == "/"
    assert reg.available_instances == {1: (0,), 3: (0,), 5: (0,)}


def test_object_versions_form() -> None:
    payload = b"</1>,</1/0>,</3>;ver=1.1,</3/0>,</5/0>,</32100>;ver=2.0,</6>"
    reg = registration(parse_register(QUERY_1_1, payload))
    assert reg.object_versions == {1: "1.0", 3: "1.1", 6: "1.0", 32100: "2.0"}
    assert reg.available_instances == {1: (0,), 3: (0,), 5: (0,), 6: (), 32100: ()}


def test_alternate_root_path_form() -> None:
    payload = (
        b'</lwm2m>;rt="oma.lwm2m",</lwm2m/1/0>,</lwm2m/3>;ver=1.1,</lwm2m/3/0>,'
        b"</lwm2m/3/1>,</lwm2m/5/0>,</other/4/0>,</4/0>,</lwm2m/3/0/1>"
    )
    reg = registration(parse_register(QUERY_1_1, payload))
    assert reg.root_path == "/lwm2m/"
    # links outside the root path and resource links are not object instances
    assert reg.available_instances == {1: (0,), 3: (0, 1), 5: (0,)}
    assert reg.object_versions == {3: "1.1"}


def test_plain_lwm2m_1_0_list_takes_defaults() -> None:
    params = parse_register(["ep=old-client"], b"</1/0>,</3/0>")
    assert (params.lifetime, params.lwm2m_version, params.binding, params.queue_mode) == (
        DEFAULT_LIFETIME, "1.0", "U", False,
    )  # fmt: skip
    reg = registration(params)
    assert reg.root_path == "/"
    assert reg.available_instances == {1: (0,), 3: (0,)}


def test_non_numeric_targets_are_not_objects() -> None:
    reg = registration(parse_register(["ep=a"], "</1/0>,</\u00b3/0>,</a/b>".encode()))
    assert reg.available_instances == {1: (0,)}


def test_queue_mode_lwm2m_1_0_binding_uq() -> None:
    params = parse_register(["ep=q", "lwm2m=1.0", "b=UQ"], b"</1/0>")
    assert (params.binding, params.queue_mode) == ("U", True)


def test_queue_mode_lwm2m_1_1_q_parameter() -> None:
    params = parse_register(["ep=q", "lwm2m=1.1", "b=U", "Q"], b"</1/0>")
    assert (params.binding, params.queue_mode) == ("U", True)


def test_sms_binding_and_number() -> None:
    params = parse_register(["ep=s", "b=US", "sms=+15550100"], b"</1/0>")
    assert (params.binding, params.sms, params.queue_mode) == ("US", "+15550100", False)
    assert parse_register(["ep=s", "sms="], b"").sms is None


def test_additional_attributes_are_kept_read_only() -> None:
    params = parse_register(["ep=a", "lt=60", "imei=35", "tag=a=b", "flag"], b"</1/0>")
    assert dict(params.additional_attributes) == {"imei": "35", "tag": "a=b", "flag": ""}
    with pytest.raises(TypeError):
        params.additional_attributes["x"] = "y"  # type: ignore[index]
    assert registration(params).additional_attributes == params.additional_attributes


def test_empty_payload_gives_no_links() -> None:
    assert parse_register(["ep=a"], b"").object_links == ()


def test_split_query() -> None:
    assert split_query(["ep=a=b", "Q", "lt="]) == {"ep": "a=b", "Q": "", "lt": ""}


def expect_bad_request(
    query: list[str], payload: bytes, message: str, content_format: int | None = None
) -> Lwm2mError:
    with pytest.raises(InvalidRequest) as caught:
        parse_register(query, payload, content_format)
    assert caught.value.code is ResponseCode.BAD_REQUEST
    assert str(caught.value) == message
    return caught.value


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (["lt=30"], "missing endpoint name (ep query parameter)"),
        (["ep=", "lt=30"], "missing endpoint name (ep query parameter)"),
        (["ep=a b"], "endpoint name 'a b' has invalid characters or length"),
        (["ep=" + "e" * 256], f"endpoint name {'e' * 256!r} has invalid characters or length"),
        (["ep=a", "lt=abc"], "lifetime lt='abc' is not a non-negative integer"),
        (["ep=a", "lt=-5"], "lifetime lt='-5' is not a non-negative integer"),
        (["ep=a", "lt=\u00b2"], "lifetime lt='\u00b2' is not a non-negative integer"),
        (["ep=a", "lt="], "lifetime lt='' is not a non-negative integer"),
        (["ep=a", "lt=0"], "lifetime lt=0 out of range 1..4294967295"),
        (["ep=a", "lt=4294967296"], "lifetime lt=4294967296 out of range 1..4294967295"),
        (["ep=a", "b=X"], "binding mode b='X' is not valid"),
        (["ep=a", "b=Q"], "binding mode b='Q' is not valid"),
        (["ep=a", "b=UU"], "binding mode b='UU' is not valid"),
        (["ep=a", "b="], "binding mode b='' is not valid"),
        (["ep=a", "Q=1"], "the Q parameter takes no value"),
        (["ep=a", "ep=b"], "query parameter 'ep' given twice"),
        (["ep=a", "lt=30", "lt=60"], "query parameter 'lt' given twice"),
        (["ep=a", "=x"], "empty query parameter in '=x'"),
    ],
)
def test_register_refused(query: list[str], message: str) -> None:
    expect_bad_request(query, b"</1/0>", message)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"</1/0", "invalid link format at offset 1: unterminated '<' (missing '>')"),
        (b"</1/0>,", "invalid link format at offset 7: expected '<', found end of payload"),
        (b"1/0", "invalid link format at offset 0: expected '<', found '1'"),
    ],
)
def test_unparsable_link_format_refused(payload: bytes, message: str) -> None:
    assert isinstance(expect_bad_request(["ep=a"], payload, message), CodecError)


def test_payload_not_utf8_or_not_link_format_refused() -> None:
    error = expect_bad_request(
        ["ep=a"],
        b"\xff",
        "registration payload is not UTF-8: 'utf-8' "
        "codec can't decode byte 0xff in position 0: invalid start byte",
    )
    assert not isinstance(error, CodecError)
    expect_bad_request(
        ["ep=a"],
        b"</1/0>",
        "registration payload must be link-format (40), not 110",
        content_format=110,
    )


@pytest.mark.parametrize("version", ["2.0", "1.3", "1", ""])
def test_unsupported_lwm2m_version(version: str) -> None:
    with pytest.raises(UnsupportedVersion) as caught:
        parse_register(["ep=a", f"lwm2m={version}"], b"</1/0>")
    assert caught.value.code is ResponseCode.PRECONDITION_FAILED
    assert str(caught.value) == f"LwM2M version {version!r} is not supported"


def test_update_with_nothing_changes_nothing() -> None:
    params = parse_update([], b"")
    assert params == RegistrationParams()
    reg = registration(parse_register(QUERY_1_1, b"</>;ct=112,</1/0>,</3/0>"))
    after = reg.updated(params, "192.0.2.7", 40000, now=1010.0)
    assert after == dataclasses.replace(reg, host="192.0.2.7", port=40000, last_update=1010.0)
    assert after.registration_date == 1000.0
    assert after.expires_at == 1040.0


def test_update_with_lifetime_only() -> None:
    params = parse_update(["lt=120"], b"")
    assert params == RegistrationParams(lifetime=120)
    reg = registration(parse_register(QUERY_1_1, b"</1/0>"))
    after = reg.updated(params, reg.host, reg.port, now=1005.0)
    assert (after.lifetime, after.expires_at, after.object_links) == (120, 1125.0, reg.object_links)


def test_update_with_payload_only() -> None:
    params = parse_update([], b"</1/0>,</3/0>,</32100/0>", 40)
    assert params == RegistrationParams(object_links=(Link("/1/0"), Link("/3/0"), Link("/32100/0")))
    reg = registration(parse_register(QUERY_1_1, b"</1/0>,</3/0>"))
    after = reg.updated(params, reg.host, reg.port, now=1001.0)
    assert after.lifetime == 30
    assert after.available_instances == {1: (0,), 3: (0,), 32100: (0,)}


def test_update_binding_queue_and_sms() -> None:
    params = parse_update(["b=UQ", "sms=+15550100"], b"")
    assert (params.binding, params.queue_mode, params.sms) == ("U", True, "+15550100")
    assert parse_update(["Q"], b"").queue_mode is True
    reg = registration(parse_register(QUERY_1_1, b"</1/0>"))
    after = reg.updated(params, reg.host, reg.port, now=1001.0)
    assert (after.binding, after.queue_mode, after.sms) == ("U", True, "+15550100")


def test_update_ignores_ep_and_lwm2m_and_merges_additional_attributes() -> None:
    params = parse_update(["ep=other", "lwm2m=1.0", "lt=60", "imei=36", "fw=2"], b"")
    assert params == RegistrationParams(
        lifetime=60, additional_attributes={"imei": "36", "fw": "2"}
    )
    reg = registration(parse_register([*QUERY_1_1, "imei=35", "tag=x"], b"</1/0>"))
    after = reg.updated(params, reg.host, reg.port, now=1001.0)
    assert (after.endpoint, after.lwm2m_version, after.lifetime) == ("zephyr-1", "1.1", 60)
    assert dict(after.additional_attributes) == {"imei": "36", "tag": "x", "fw": "2"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (["lt=0"], "lifetime lt=0 out of range 1..4294967295"),
        (["lt=x"], "lifetime lt='x' is not a non-negative integer"),
        (["b=Z"], "binding mode b='Z' is not valid"),
        (["lt=5", "lt=6"], "query parameter 'lt' given twice"),
    ],
)
def test_update_refused(query: list[str], message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_update(query, b"")
    assert caught.value.code is ResponseCode.BAD_REQUEST
    assert str(caught.value) == message


def test_update_with_unparsable_payload_refused() -> None:
    with pytest.raises(CodecError) as caught:
        parse_update([], b"<")
    assert caught.value.code is ResponseCode.BAD_REQUEST
    assert str(caught.value) == "invalid link format at offset 1: unterminated '<' (missing '>')"


def test_address_brackets_ipv6() -> None:
    params = parse_register(["ep=a"], b"</1/0>")
    assert registration(params, host="192.0.2.1").address == "192.0.2.1:5683"
    assert registration(params, host="2001:db8::1").address == "[2001:db8::1]:5683"


def test_registration_is_immutable() -> None:
    reg = registration(parse_register(["ep=a", "k=v"], b"</1/0>"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        reg.lifetime = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        reg.additional_attributes["k"] = "w"  # type: ignore[index]
