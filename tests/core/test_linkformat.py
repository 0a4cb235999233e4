"""RFC 6690 link format: registration payloads (LwM2M 1.1 Transport 6.2.1/ Core 6.2.1 examples,
Zephyr's lwm2m_engine output) and discover answers (LwM2M 1.1 Core 5.4.2 examples)."""

from __future__ import annotations

import pytest

from lwm2m_mlaas.core.errors import CodecError, InvalidRequest, ResponseCode
from lwm2m_mlaas.core.linkformat import Link, format_link_format, parse_link_format


def test_zephyr_senml_cbor_registration() -> None:
    links = parse_link_format("</>;ct=112,</1/0>,</3/0>,</5/0>")
    assert links == (
        Link("/", {"ct": "112"}),
        Link("/1/0"),
        Link("/3/0"),
        Link("/5/0"),
    )


def test_rt_quoted_and_json_ct() -> None:
    # LwM2M 1.1 Core 6.2.1 "Register" example payload form
    links = parse_link_format('</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>')
    assert links[0].target == "/"
    assert dict(links[0].attributes) == {"rt": "oma.lwm2m", "ct": "11543"}
    assert list(links[0].attributes) == ["rt", "ct"]
    assert [link.target for link in links[1:]] == ["/1/0", "/3/0"]


def test_object_version() -> None:
    assert parse_link_format("</3>;ver=1.1,</3/0>") == (Link("/3", {"ver": "1.1"}), Link("/3/0"))


def test_alternate_root_path() -> None:
    links = parse_link_format('</lwm2m>;rt="oma.lwm2m",</lwm2m/1/0>,</lwm2m/3/0>')
    assert links[0] == Link("/lwm2m", {"rt": "oma.lwm2m"})
    assert links[2].target == "/lwm2m/3/0"


def test_whitespace_and_newlines_between_links() -> None:
    text = "  </>;ct=110 ,\n </1/0>,\r\n\t</3/0> ; ver=1.0\n"
    assert parse_link_format(text) == (
        Link("/", {"ct": "110"}),
        Link("/1/0"),
        Link("/3/0", {"ver": "1.0"}),
    )


def test_quoted_ct_list() -> None:
    (root,) = parse_link_format('</>;ct="60 110"')
    assert root.attributes["ct"] == "60 110"


def test_bare_attribute_and_escapes() -> None:
    (link,) = parse_link_format(r'</3/0/13>;obs;title="a \"b\" c";pmin=10')
    assert dict(link.attributes) == {"obs": None, "title": 'a "b" c', "pmin": "10"}


def test_bytes_and_empty_payload() -> None:
    assert parse_link_format(b"</3/0>") == (Link("/3/0"),)
    assert parse_link_format("") == ()
    assert parse_link_format(" \n") == ()


def test_discover_answers_format() -> None:
    # LwM2M 1.1 Core 5.4.2 Discover examples
    assert format_link_format([Link("/3/0/1"), Link("/3/0/2"), Link("/3/0/7", {"dim": "2"})]) == (
        "</3/0/1>,</3/0/2>,</3/0/7>;dim=2"
    )
    assert format_link_format([Link("/3", {"ver": "1.1"}), Link("/3/0")]) == "</3>;ver=1.1,</3/0>"
    assert format_link_format([Link("/3/0", {"pmin": "10", "pmax": "60"})]) == (
        "</3/0>;pmin=10;pmax=60"
    )


def test_format_quotes_where_needed() -> None:
    links = [Link("/", {"rt": "oma.lwm2m", "ct": "60 110", "obs": None, "x": 'a,b;"c"'})]
    text = format_link_format(links)
    assert text == r'</>;rt="oma.lwm2m";ct="60 110";obs;x="a,b;\"c\""'
    assert parse_link_format(text) == tuple(links)
    assert str(links[0]) == text


def test_link_is_hashable_and_immutable() -> None:
    link = Link("/3/0", {"ver": "1.0"})
    assert hash(link) == hash(Link("/3/0", {"ver": "1.0"}))
    with pytest.raises(TypeError):
        link.attributes["ver"] = "2.0"  # type: ignore[index]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("/3/0", "expected '<'"),
        ("</3/0", "missing '>'"),
        ("<>", "empty link target"),
        ('</>;rt="oma.lwm2m', "unterminated quoted string"),
        ("</3/0>;", "attribute name"),
        ("</3/0>;ct=", "empty value"),
        ("</3/0></5/0>", "expected ','"),
        ("</3/0>,", "expected '<'"),
        ("</3/0>;ct=1 2", "expected ','"),
        ("</3 0>", "invalid character"),
    ],
)
def test_junk_raises_codec_error(payload: str, message: str) -> None:
    with pytest.raises(CodecError, match=message) as info:
        parse_link_format(payload)
    assert isinstance(info.value, InvalidRequest)
    assert info.value.code is ResponseCode.BAD_REQUEST


def test_non_utf8_bytes() -> None:
    with pytest.raises(CodecError, match="UTF-8"):
        parse_link_format(b"</\xff>")
