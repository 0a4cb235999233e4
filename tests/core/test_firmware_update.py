"""Object 5 defined once: lwm2m_mlaas.core.firmware_update against objects/5.xml (read with the
DDF loader) and against the C firmware: the state and result constants of
firmware_stubs/include/firmware.h and package.h, and the object 5 rows of the resource table in
firmware_stubs/src/objects.c. The C is parsed strictly: what it cannot read fails the test."""

from __future__ import annotations

import re
from enum import IntEnum
from pathlib import Path

import pytest

from lwm2m_mlaas.core import firmware_update as fw
from lwm2m_mlaas.core.ddf import OBJECTS_DIR, load_ddf
from lwm2m_mlaas.core.model import ObjectModel
from lwm2m_mlaas.core.nodes import ResourceType
from lwm2m_mlaas.core.paths import Lwm2mPath

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware_stubs"
FIRMWARE_H = FIRMWARE / "include" / "firmware.h"
PACKAGE_H = FIRMWARE / "include" / "package.h"
OBJECTS_C = FIRMWARE / "src" / "objects.c"

C_TYPES = {
    "RT_STR": ResourceType.STRING,
    "RT_INT": ResourceType.INTEGER,
    "RT_BOOL": ResourceType.BOOLEAN,
    "RT_FLOAT": ResourceType.FLOAT,
    "RT_OPAQUE": ResourceType.OPAQUE,
    "RT_EXEC": ResourceType.NONE,
}
"""objects.h resource types -> LwM2M data types (an executable resource has none)."""
C_OPS = {"OP_R": "R", "OP_W": "W", "OP_E": "E", "OP_MULTI": ""}
"""objects.h operation flags -> DDF <Operations> letters (OP_MULTI: <MultipleInstances>)."""

Row = tuple[str, ResourceType, bool]
"""A resource as (operations, type, multiple)."""


def object_5() -> ObjectModel:
    (model,) = load_ddf((OBJECTS_DIR / "5.xml").read_bytes(), "objects/5.xml")
    assert model.id == 5
    return model


def uncommented(c: str) -> str:
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", c, flags=re.S)


def enum_constants(header: str, prefix: str) -> dict[str, int]:
    """Every `prefix...` constant of the header's enums; each needs a literal value."""
    constants: dict[str, int] = {}
    for body in re.findall(r"\benum\b[^{;]*\{(.*?)\}", uncommented(header), flags=re.S):
        for item in filter(None, (part.strip() for part in body.split(","))):
            match = re.fullmatch(r"(\w+)\s*=\s*(\d+)", item)
            assert match, f"enum constant without a literal value: {item!r}"
            if match[1].startswith(prefix):
                assert match[1] not in constants, f"{match[1]} defined twice"
                constants[match[1]] = int(match[2])
    assert constants, f"no {prefix}* enum constants found"
    return constants


def define_constants(header: str, prefix: str) -> dict[str, int]:
    """Every `#define prefix... <number>` of the header."""
    found = re.findall(rf"^\s*#\s*define\s+({prefix}\w+)\s+(\S+)", uncommented(header), re.M)
    assert found, f"no {prefix}* #defines found"
    assert all(value.isdigit() for _, value in found), f"a {prefix}* #define is no number: {found}"
    return {name: int(value) for name, value in found}


def split_top_level(body: str) -> list[str]:
    """`body` split at the commas outside any () or {}; empty items dropped."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(body):
        if char in "({":
            depth += 1
        elif char in ")}":
            depth -= 1
            assert depth >= 0, "unbalanced brackets in the resource table"
        elif char == "," and depth == 0:
            items.append(body[start:i].strip())
            start = i + 1
    assert depth == 0, "unbalanced brackets in the resource table"
    items.append(body[start:].strip())
    return [item for item in items if item]


def resource_table(source: str) -> dict[tuple[int, int], Row]:
    """The rows of objects.c's `table[]`, written as {obj, id, RT_*, ops, ...} or with one of
    the file's row macros (#define INT(o, i, ops, ptr) {o, i, RT_INT, ops, ...})."""
    code = uncommented(source)
    row_macro = (
        r"#\s*define\s+(?P<name>\w+)\(\s*(?P<o>\w+)\s*,\s*(?P<i>\w+)\s*,\s*(?P<ops>\w+)"
        r"\s*,\s*\w+\s*\)\s*\{\s*(?P=o)\s*,\s*(?P=i)\s*,\s*(?P<type>RT_\w+)\s*,\s*(?P=ops)\s*,"
    )
    macros = {m["name"]: m["type"] for m in re.finditer(row_macro, code)}
    assert macros, "no resource row macros found in objects.c"
    table = re.search(r"\bstruct\s+resource\s+table\s*\[\s*\]\s*=\s*\{(.*?)\n\}\s*;", code, re.S)
    assert table, "no `struct resource table[] = {...};` in objects.c"
    rows: dict[tuple[int, int], Row] = {}
    for entry in split_top_level(table[1]):
        if match := re.fullmatch(r"(\w+)\(\s*(\d+)\s*,\s*(\d+)\s*,\s*([^,]+),.*\)", entry, re.S):
            assert match[1] in macros, f"unknown row macro in {entry!r}"
            obj, rid, c_type, ops = match[2], match[3], macros[match[1]], match[4]
        elif match := re.fullmatch(r"\{\s*(\d+)\s*,\s*(\d+)\s*,\s*(\w+)\s*,\s*([^,]+),.*\}",
                                   entry, re.S):  # fmt: skip
            obj, rid, c_type, ops = match.groups()
        else:
            raise AssertionError(f"resource table row not understood: {entry!r}")
        assert c_type in C_TYPES, f"unknown resource type {c_type} in {entry!r}"
        flags = {flag.strip() for flag in ops.split("|")}
        assert flags <= set(C_OPS), f"unknown operation flags {flags - set(C_OPS)} in {entry!r}"
        operations = "".join(C_OPS[flag] for flag in C_OPS if flag in flags)
        key = (int(obj), int(rid))
        assert key not in rows, f"resource /{key[0]}/0/{key[1]} twice in the table"
        rows[key] = (operations, C_TYPES[c_type], "OP_MULTI" in flags)
    return rows


def expected_constants(prefix: str, *enums: type[IntEnum]) -> dict[str, int]:
    return {f"{prefix}{member.name}": member.value for enum in enums for member in enum}


def check_firmware_h(header: str) -> None:
    assert enum_constants(header, "FW_") == expected_constants(
        "FW_", fw.FirmwareState, fw.FirmwareResult
    )


def check_package_h(header: str) -> None:
    defines = define_constants(header, "FW_RESULT_")
    assert defines.items() <= expected_constants("FW_RESULT_", fw.FirmwareResult).items()


def check_table(source: str, model: ObjectModel) -> None:
    rows = {rid: row for (obj, rid), row in resource_table(source).items() if obj == 5}
    assert rows == {r.id: (r.operations, r.type, r.multiple) for r in model.resources.values()}


# -- the Python definitions against objects/5.xml -------------------------------------------------


def constant_name(ddf_name: str) -> str:
    """'Update Result' -> UPDATE_RESULT, 'PkgName' -> PKG_NAME, 'Firmware Update Delivery
    Method' -> DELIVERY_METHOD."""
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", ddf_name.removeprefix("Firmware Update "))
    return "_".join(words.upper().split())


def test_paths_name_every_resource_of_object_5() -> None:
    paths = {name: value for name, value in vars(fw).items() if isinstance(value, Lwm2mPath)}
    model = object_5()
    assert {str(p) for p in paths.values()} == {f"/5/0/{r}" for r in model.resources}
    for name, path in paths.items():
        assert path.resource_id is not None
        assert name == constant_name(model.resources[path.resource_id].name)


@pytest.mark.parametrize(
    ("enum", "path"),
    [
        (fw.FirmwareState, fw.STATE),
        (fw.FirmwareResult, fw.UPDATE_RESULT),
        (fw.DeliveryMethod, fw.DELIVERY_METHOD),
    ],
)
def test_enum_covers_the_resource_range(enum: type[IntEnum], path: Lwm2mPath) -> None:
    assert path.resource_id is not None
    resource = object_5().resources[path.resource_id]
    assert resource.type is ResourceType.INTEGER
    low, high = resource.range.split("..")
    assert [member.value for member in enum] == list(range(int(low), int(high) + 1))


def test_every_result_has_a_reason() -> None:
    assert list(fw.REASONS) == list(fw.FirmwareResult)
    assert all(fw.REASONS.values())


# -- the C firmware against them ------------------------------------------------------------------


def test_firmware_h_states_and_results() -> None:
    check_firmware_h(FIRMWARE_H.read_text())


def test_package_h_results() -> None:
    check_package_h(PACKAGE_H.read_text())


def test_resource_table_matches_5_xml() -> None:
    check_table(OBJECTS_C.read_text(), object_5())


def test_resource_table_parses_every_row() -> None:
    rows = resource_table(OBJECTS_C.read_text())
    assert {obj for obj, _ in rows} == {1, 3, 5, 32100, 32101}
    assert rows[(5, 0)] == ("W", ResourceType.OPAQUE, False)
    assert rows[(5, 8)] == ("R", ResourceType.INTEGER, True)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("FW_UPDATING = 3", "FW_UPDATING = 4"),
        ("FW_INVALID_URI = 7", "FW_BAD_URI = 7"),
        ("FW_UNSUPPORTED_PROTOCOL = 9,", ""),
        ("FW_UPDATING = 3", "FW_UPDATING"),
    ],
)
def test_a_changed_header_fails(old: str, new: str) -> None:
    header = FIRMWARE_H.read_text()
    assert old in header
    with pytest.raises(AssertionError):
        check_firmware_h(header.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("FW_RESULT_INTEGRITY_FAILURE 5", "FW_RESULT_INTEGRITY_FAILURE 6"),
        ("FW_RESULT_INTEGRITY_FAILURE 5", "FW_RESULT_INTEGRITY 5"),
        ("#define FW_RESULT_", "#define FW_ERROR_"),
    ],
)
def test_a_changed_package_h_fails(old: str, new: str) -> None:
    header = PACKAGE_H.read_text()
    assert old in header
    with pytest.raises(AssertionError):
        check_package_h(header.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("{5, 0, RT_OPAQUE, OP_W,", "{5, 0, RT_OPAQUE, OP_R | OP_W,"),
        ("{5, 0, RT_OPAQUE, OP_W,", "{5, 0, RT_STR, OP_W,"),
        ("INT(5, 3, OP_R,", "STR(5, 3, OP_R,"),
        ("INT(5, 9, OP_R,", "INT(5, 10, OP_R,"),
        ("{5, 8, RT_INT, OP_R | OP_MULTI,", "{5, 8, RT_INT, OP_R,"),
        ("    STR(5, 7, OP_R, obj.fw_version),\n", ""),
        ("INT(5, 3, OP_R,", "ROW(5, 3, OP_R,"),
        ("static const struct resource table[]", "static const struct resource rows[]"),
    ],
)
def test_a_changed_resource_table_fails(old: str, new: str) -> None:
    source = OBJECTS_C.read_text()
    assert old in source
    with pytest.raises(AssertionError):
        check_table(source.replace(old, new), object_5())
