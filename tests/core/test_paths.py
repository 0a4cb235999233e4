"""LwM2M paths (LwM2M 1.1 TS Core 6.1 / 7.1): /O, /O/I, /O/I/R, /O/I/R/RI and the root."""

from __future__ import annotations

import pytest

from lwm2m_mlaas.core.errors import InvalidPath, InvalidRequest, ResponseCode
from lwm2m_mlaas.core.paths import ROOT, Lwm2mPath


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("/", ()),
        ("", ()),
        ("/3", (3,)),
        ("/3/0", (3, 0)),
        ("3/0/1", (3, 0, 1)),
        ("/3/0/7/1/", (3, 0, 7, 1)),
        ("/65535/65534/65535/65535", (65535, 65534, 65535, 65535)),
    ],
)
def test_parse_and_str(text: str, ids: tuple[int, ...]) -> None:
    path = Lwm2mPath.parse(text)
    assert path.ids == ids
    assert path == Lwm2mPath.of(*ids)
    assert Lwm2mPath.parse(str(path)) == path
    assert str(path) == "/" + "/".join(str(i) for i in ids)
    assert path.segments == tuple(str(i) for i in ids)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/3/a", "invalid path '/3/a': 'a' is not a decimal id"),
        ("/3//1", "invalid path '/3//1': '' is not a decimal id"),
        ("/3/01", "invalid path '/3/01': '01' is not a decimal id"),
        ("/3/-1", "invalid path '/3/-1': '-1' is not a decimal id"),
        ("/\u00b3/0", "invalid path '/\u00b3/0': '\u00b3' is not a decimal id"),
        ("/\u0663/0", "invalid path '/\u0663/0': '\u0663' is not a decimal id"),
        ("/3/0/1/2/3", "path has 5 levels, at most 4 allowed"),
        ("/65536", "path id 65536 out of range 0..65535"),
        ("/3/65535", "path id 65535 out of range 0..65534"),
    ],
)
def test_invalid_paths(text: str, message: str) -> None:
    with pytest.raises(InvalidPath) as caught:
        Lwm2mPath.parse(text)
    assert isinstance(caught.value, InvalidRequest)
    assert caught.value.code is ResponseCode.BAD_REQUEST
    assert str(caught.value) == message


@pytest.mark.parametrize("bad", [True, "3", 1.0])
def test_ids_must_be_integers(bad: object) -> None:
    with pytest.raises(InvalidPath, match=r"path id .* is not an integer") as caught:
        Lwm2mPath((3, bad))  # type: ignore[arg-type]
    assert caught.value.code is ResponseCode.BAD_REQUEST


def test_levels_and_accessors() -> None:
    path = Lwm2mPath.of(3, 0, 7, 1)
    assert (path.object_id, path.instance_id, path.resource_id, path.resource_instance_id) == (
        3, 0, 7, 1,
    )  # fmt: skip
    assert path.is_resource_instance and not path.is_resource
    assert path.parent == Lwm2mPath.of(3, 0, 7) and path.parent.is_resource
    assert path.parent.parent.is_object_instance
    assert path.parent.parent.parent.is_object
    assert path.parent.parent.parent.parent == ROOT and ROOT.is_root
    assert (ROOT.object_id, ROOT.instance_id) == (None, None)
    assert Lwm2mPath.of(3).child(0).child(1) == Lwm2mPath.parse("/3/0/1")
    with pytest.raises(InvalidPath, match="the root path has no parent") as caught:
        _ = ROOT.parent
    assert caught.value.code is ResponseCode.BAD_REQUEST


def test_startswith_and_order() -> None:
    resource = Lwm2mPath.parse("/3/0/1")
    assert resource.startswith(Lwm2mPath.parse("/3/0"))
    assert resource.startswith(ROOT)
    assert resource.startswith(resource)
    assert not resource.startswith(Lwm2mPath.parse("/3/1"))
    assert not Lwm2mPath.parse("/3").startswith(resource)
    paths = [Lwm2mPath.parse(t) for t in ("/5/0", "/3/0/1", "/3", "/", "/3/0")]
    assert [str(p) for p in sorted(paths)] == ["/", "/3", "/3/0", "/3/0/1", "/5/0"]
    assert len({Lwm2mPath.parse("/3/0"), Lwm2mPath.of(3, 0)}) == 1
