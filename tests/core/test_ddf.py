"""DDF loader: the shipped objects, hostile and malformed files, immutability, Leshan JSON."""

from __future__ import annotations

import dataclasses
import shutil
import tracemalloc
from importlib.resources.abc import Traversable
from pathlib import Path

import pytest

from lwm2m_mlaas.core.ddf import (
    OBJECTS_DIR,
    load_ddf,
    load_default,
    load_directory,
    objectspec_json,
)
from lwm2m_mlaas.core.errors import ModelError
from lwm2m_mlaas.core.model import ObjectModel, ObjectRegistry, ResourceModel
from lwm2m_mlaas.core.nodes import ResourceType

DATA = Path(__file__).parent / "data"

TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<LWM2M>
  <Object ObjectType="MODefinition">
    <Name>Test</Name>
    <Description1>Test object.</Description1>
    <ObjectID>{object_id}</ObjectID>
    <ObjectURN>{urn}</ObjectURN>
    <LWM2MVersion>{lwm2m}</LWM2MVersion>
    <ObjectVersion>1.0</ObjectVersion>
    <MultipleInstances>Multiple</MultipleInstances>
    <Mandatory>Optional</Mandatory>
    <Resources>
      <Item ID="{resource_id}">
        <Name>Thing</Name>
        <Operations>{ops}</Operations>
        <MultipleInstances>Single</MultipleInstances>
        <Mandatory>Mandatory</Mandatory>
        <Type>{type}</Type>
        <RangeEnumeration>0..9</RangeEnumeration>
        <Units>s</Units>
        <Description>A thing.</Description>
      </Item>
    </Resources>
  </Object>
</LWM2M>
"""


def ddf(**fields: object) -> bytes:
    values: dict[str, object] = {
        "object_id": 32200,
        "urn": "urn:oma:lwm2m:x:32200",
        "lwm2m": "1.1",
        "resource_id": 0,
        "ops": "RW",
        "type": "Integer",
    }
    values.update(fields)
    return TEMPLATE.format(**values).encode()


# -- the shipped objects -------------------------------------------------------------------------


SHIPPED = sorted(
    (f for f in OBJECTS_DIR.iterdir() if f.name.endswith(".xml")), key=lambda f: f.name
)
REPOSITORY_OBJECTS = Path(__file__).parents[2] / "objects"


def test_the_package_ships_the_repositorys_objects_folder() -> None:
    assert [f.name for f in SHIPPED] == sorted(p.name for p in REPOSITORY_OBJECTS.glob("*.xml"))
    for file in SHIPPED:
        assert file.read_bytes() == (REPOSITORY_OBJECTS / file.name).read_bytes()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_file_loads(path: Traversable) -> None:
    (model,) = load_ddf(path.read_bytes(), str(path))
    assert path.name == f"{model.id}.xml"
    assert model.name and model.description and model.resources


def test_default_registry_holds_the_shipped_objects() -> None:
    registry = load_default()
    assert [m.id for m in registry] == [0, 1, 3, 5, 16, 21, 32100, 32101]
    assert load_default() is registry
    assert registry.object(4) is None
    assert registry.resource(3, 99) is None

    def resource_ids(object_id: int) -> list[int]:
        model = registry.object(object_id)
        assert model is not None, object_id
        return sorted(model.resources)

    assert resource_ids(0) == [*range(13), 17]
    assert resource_ids(21) == list(range(7))
    assert resource_ids(1) == list(range(24))
    assert resource_ids(16) == list(range(4))
    assert resource_ids(3) == list(range(23))
    assert resource_ids(5) == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert resource_ids(32100) == list(range(11))
    assert resource_ids(32101) == list(range(10))


@pytest.mark.parametrize(
    ("object_id", "resource_id", "operations", "resource_type", "multiple", "mandatory"),
    [
        (0, 0, "", ResourceType.STRING, False, True),  # Security: bootstrap-only, no operations
        (0, 2, "", ResourceType.INTEGER, False, True),
        (1, 1, "RW", ResourceType.INTEGER, False, True),  # Lifetime
        (1, 8, "E", ResourceType.NONE, False, True),  # Registration Update Trigger
        (3, 4, "E", ResourceType.NONE, False, True),  # Reboot
        (3, 6, "R", ResourceType.INTEGER, True, False),
        (3, 11, "R", ResourceType.INTEGER, True, True),  # Error Code
        (3, 13, "RW", ResourceType.TIME, False, False),
        (3, 22, "R", ResourceType.OBJLNK, True, False),
        (5, 0, "W", ResourceType.OPAQUE, False, True),  # Package
        (5, 1, "RW", ResourceType.STRING, False, True),  # Package URI
        (5, 2, "E", ResourceType.NONE, False, True),  # Update
        (5, 3, "R", ResourceType.INTEGER, False, True),  # State
        (5, 5, "R", ResourceType.INTEGER, False, True),  # Update Result
        (5, 8, "R", ResourceType.INTEGER, True, False),  # Protocol Support
        (5, 9, "R", ResourceType.INTEGER, False, True),  # Delivery Method
        (32100, 0, "R", ResourceType.STRING, False, True),
        (32100, 4, "R", ResourceType.STRING, True, True),  # Runtimes
        (32100, 5, "RW", ResourceType.STRING, False, False),  # Requested Task
        (32101, 4, "R", ResourceType.FLOAT, False, False),
        (32101, 6, "RW", ResourceType.BOOLEAN, False, False),
        (32101, 7, "E", ResourceType.NONE, False, False),
    ],
)
def test_resource_spot_checks(
    object_id: int,
    resource_id: int,
    operations: str,
    resource_type: ResourceType,
    multiple: bool,
    mandatory: bool,
) -> None:
    resource = load_default().resource(object_id, resource_id)
    assert resource is not None
    assert resource.id == resource_id
    assert resource.operations == operations
    assert resource.type is resource_type
    assert resource.multiple is multiple
    assert resource.mandatory is mandatory


def test_object_attributes() -> None:
    registry = load_default()
    device, firmware = registry.object(3), registry.object(5)
    capability, inference = registry.object(32100), registry.object(32101)
    assert device is not None and firmware is not None
    assert capability is not None and inference is not None
    assert (device.name, device.multiple, device.mandatory) == ("Device", False, True)
    assert (firmware.multiple, firmware.mandatory) == (False, False)
    assert firmware.urn == "urn:oma:lwm2m:oma:5"
    assert (firmware.version, firmware.lwm2m_version) == ("1.0", "1.0")
    assert (capability.name, capability.urn) == ("ML Capability", "urn:oma:lwm2m:x:32100")
    assert (capability.multiple, capability.mandatory) == (False, True)
    assert inference.name == "ML Inference"
    assert (inference.multiple, inference.mandatory) == (False, False)
    assert capability.resources[1].units == "MHz"
    assert inference.resources[5].units == "us"
    assert firmware.resources[3].range == "0..3"
    assert device.resources[4].executable and not device.resources[4].readable
    assert firmware.resources[0].writable and not firmware.resources[0].readable


# -- hostile files -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["xxe.xml", "billion_laughs.xml", "external_dtd.xml"])
def test_hostile_file_is_refused_without_expansion(name: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ModelError, match=r"DTD") as caught:
            load_ddf((DATA / name).read_bytes(), name)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert message.startswith(f"{name}: refused")
    assert "root:" not in message and "lol" not in message
    assert peak < 8 * 1024 * 1024  # billion laughs would need gigabytes


def test_hostile_file_in_a_directory_stops_the_load(tmp_path: Path) -> None:
    (tmp_path / "3.xml").write_bytes((OBJECTS_DIR / "3.xml").read_bytes())
    shutil.copy(DATA / "xxe.xml", tmp_path / "9.xml")
    with pytest.raises(ModelError, match=r"9\.xml: refused"):
        load_directory(tmp_path)


# -- malformed files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("missing_object_id.xml", r"missing_object_id\.xml: <Object>: missing <ObjectID>"),
        (
            "duplicate_resource_id.xml",
            r"duplicate_resource_id\.xml: object 32200: duplicate resource id 1",
        ),
        (
            "bad_operations.xml",
            r"bad_operations\.xml: object 32200 resource 0: <Operations> is 'RWX'",
        ),
        ("not_well_formed.xml", r"not_well_formed\.xml: not well-formed XML"),
    ],
)
def test_malformed_file_names_the_problem(name: str, expected: str) -> None:
    with pytest.raises(ModelError, match=expected):
        load_ddf((DATA / name).read_bytes(), name)


def test_template_is_valid() -> None:
    (model,) = load_ddf(ddf())
    assert model.resources[0] == ResourceModel(
        0, "Thing", "RW", False, True, ResourceType.INTEGER, "0..9", "s", "A thing."
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", r"not well-formed XML"),
        (b"<Objects/>", r"root element is <Objects>"),
        (b"<LWM2M/>", r"holds no <Object>"),
        (ddf(object_id="x3"), r"<ObjectID> 'x3' is not an integer"),
        (ddf(object_id=65535), r"<ObjectID> '65535' is not an integer in 0\.\.65534"),
        (ddf(object_id=1500, urn="urn:oma:lwm2m:oma:1500"), r"object 1500: .* reserved range"),
        (ddf(urn="urn:oma:lwm2m:x:32201"), r"<ObjectURN> is 'urn:oma:lwm2m:x:32201'"),
        (ddf(urn="urn:oma:lwm2m:ext:32200"), r"expected 'urn:oma:lwm2m:x:32200'"),
        (ddf(lwm2m="one"), r"<LWM2MVersion> is 'one'"),
        (ddf().replace(b"<ObjectVersion>1.0", b"<ObjectVersion>1.2"), r"expected '.*:32200:1\.2'"),
        (ddf(resource_id=-1), r"<Item ID> '-1' is not an integer"),
        (ddf(type="Decimal"), r"resource 0: <Type> 'Decimal' is not an LwM2M data type"),
        (ddf(ops="E"), r"resource 0: <Type> must be empty exactly when <Operations> is E"),
        (ddf(type=""), r"resource 0: <Type> must be empty exactly when <Operations> is E"),
        (ddf(lwm2m="1.0", type="Unsigned Integer"), r"does not exist in LwM2M 1\.0"),
        (ddf().replace(b"<Type>Integer</Type>", b""), r"resource 0: missing <Type>"),
        (ddf().replace(b">Single<", b">single<"), r"<MultipleInstances> is 'single'"),
        (ddf().replace(b"<Mandatory>Optional", b"<Mandatory>Maybe"), r"<Mandatory> is 'Maybe'"),
        (ddf().replace(b"<Name>Thing</Name>", b"<Name></Name>"), r"resource 0: <Name> is empty"),
        (b" " * (1 << 20) + ddf(), r"at most 1048576"),
    ],
)
def test_invalid_definition_is_refused(data: bytes, expected: str) -> None:
    with pytest.raises(ModelError, match=rf"^<bytes>: .*{expected}"):
        load_ddf(data)


def test_optional_elements_and_versions() -> None:
    (model,) = load_ddf(
        ddf()
        .replace(b"<LWM2MVersion>1.1</LWM2MVersion>", b"")
        .replace(b"<Units>s</Units>", b"")
        .replace(b"<Description>A thing.</Description>", b"")
    )
    assert (model.version, model.lwm2m_version) == ("1.0", "1.0")
    assert (model.resources[0].units, model.resources[0].description) == ("", "")
    assert load_ddf(ddf(urn="urn:oma:lwm2m:x:32200:1.0"))[0].urn == "urn:oma:lwm2m:x:32200:1.0"
    versioned = ddf(urn="urn:oma:lwm2m:x:32200:1.2").replace(b"ion>1.0<", b"ion>1.2<")
    assert load_ddf(versioned)[0].version == "1.2"


def test_several_objects_in_one_file() -> None:
    second = ddf(object_id=32201, urn="urn:oma:lwm2m:x:32201")
    data = ddf().replace(b"</LWM2M>", second.split(b"<LWM2M>")[1])
    assert [m.id for m in load_ddf(data)] == [32200, 32201]


def test_directory_refuses_duplicate_object_ids(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_bytes(ddf())
    (tmp_path / "b.xml").write_bytes(ddf())
    with pytest.raises(ModelError, match=r"b\.xml: object 32200 is already defined in .*a\.xml"):
        load_directory(tmp_path)


def test_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a directory"):
        load_directory(tmp_path / "missing")


# -- immutability --------------------------------------------------------------------------------


def test_registry_and_models_are_immutable() -> None:
    registry = load_default()
    device = registry.object(3)
    assert isinstance(registry, ObjectRegistry) and isinstance(device, ObjectModel)
    with pytest.raises(TypeError):
        registry.objects[4] = device  # type: ignore[index]
    with pytest.raises(TypeError):
        device.resources[99] = device.resources[0]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        registry.objects = {}  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        device.name = "Other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        device.resources[4].operations = "R"  # type: ignore[misc]


# -- Leshan /api/objectspecs JSON ----------------------------------------------------------------


def test_objectspec_json_shape() -> None:
    firmware_update = load_default().object(5)
    assert firmware_update is not None
    spec = objectspec_json(firmware_update)
    assert list(spec) == [
        "id",
        "name",
        "instancetype",
        "mandatory",
        "urn",
        "version",
        "lwm2mversion",
        "description",
        "description2",
        "resourcedefs",
    ]
    assert spec["id"] == 5 and spec["name"] == "Firmware Update"
    assert (spec["instancetype"], spec["mandatory"]) == ("single", False)
    assert spec["urn"] == "urn:oma:lwm2m:oma:5"
    assert (spec["version"], spec["lwm2mversion"]) == ("1.0", "1.0")
    assert [r["id"] for r in spec["resourcedefs"]] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert spec["resourcedefs"][0] == {
        "id": 0,
        "name": "Package",
        "operations": "W",
        "instancetype": "single",
        "mandatory": True,
        "type": "opaque",
        "range": "",
        "units": "",
        "description": spec["resourcedefs"][0]["description"],
    }
    update = spec["resourcedefs"][2]
    assert (update["operations"], update["type"]) == ("E", "none")
    assert spec["resourcedefs"][7]["instancetype"] == "multiple"


def test_objectspec_json_names_every_type_and_no_operations() -> None:
    security_model = load_default().object(0)
    assert security_model is not None
    security = objectspec_json(security_model)
    assert {r["operations"] for r in security["resourcedefs"]} == {"NONE"}
    assert security["instancetype"] == "multiple"
    names = {
        t: objectspec_json(load_ddf(ddf(type=t.value, ops="R"))[0])["resourcedefs"][0]["type"]
        for t in ResourceType
        if t is not ResourceType.NONE
    }
    assert names == {
        ResourceType.STRING: "string",
        ResourceType.INTEGER: "integer",
        ResourceType.UNSIGNED_INTEGER: "unsigned_integer",
        ResourceType.FLOAT: "float",
        ResourceType.BOOLEAN: "boolean",
        ResourceType.OPAQUE: "opaque",
        ResourceType.TIME: "time",
        ResourceType.OBJLNK: "objlnk",
        ResourceType.CORELNK: "corelink",
    }
