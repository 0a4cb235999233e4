"""OMA DDF XML (LWM2M.xsd) -> immutable object models: parse, then validate and build.

Parsing goes through defusedxml with DTDs forbidden, so entity expansion and external entities
never happen. Validation follows the XSD and Leshan's DefaultObjectModelValidator.
"""

from __future__ import annotations

import functools
import re
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from .errors import ModelError
from .model import ObjectModel, ObjectRegistry, ResourceModel
from .nodes import ResourceType

OBJECTS_DIR: Traversable = files("lwm2m_mlaas") / "objects"
"""The DDF files of every object the server knows: package data (`lwm2m_mlaas/objects`, a link
to the repository's top-level objects/ folder that the wheel carries as files)."""

MAX_DDF_BYTES = 1 << 20
OPERATIONS = frozenset({"R", "W", "RW", "E", ""})
_VERSION = re.compile(r"\d+\.\d+")
_TYPES_1_0 = frozenset(ResourceType) - {ResourceType.UNSIGNED_INTEGER, ResourceType.CORELNK}
_LESHAN_TYPES = {
    ResourceType.UNSIGNED_INTEGER: "unsigned_integer",
    ResourceType.CORELNK: "corelink",
}


def load_ddf(data: bytes, source: str = "<bytes>") -> tuple[ObjectModel, ...]:
    """Every object defined in one DDF document; `source` names it in error messages."""
    root = _parse(data, source)
    if root.tag != "LWM2M":
        raise ModelError(f"{source}: root element is <{root.tag}>, expected <LWM2M>")
    objects = root.findall("Object")
    if not objects:
        raise ModelError(f"{source}: <LWM2M> holds no <Object>")
    return tuple(_object(element, source) for element in objects)


def load_directory(path: Traversable) -> ObjectRegistry:
    """Every *.xml file in `path` (a folder or package resources); two definitions of one object
    id are refused."""
    if not path.is_dir():
        raise ModelError(f"{path}: not a directory")
    seen: dict[int, tuple[ObjectModel, Traversable]] = {}
    xml = (entry for entry in path.iterdir() if entry.name.endswith(".xml") and entry.is_file())
    for file in sorted(xml, key=lambda entry: entry.name):
        for model in load_ddf(file.read_bytes(), str(file)):
            if model.id in seen:
                raise ModelError(
                    f"{file}: object {model.id} is already defined in {seen[model.id][1]}"
                )
            seen[model.id] = (model, file)
    return ObjectRegistry.of(model for model, _ in seen.values())


@functools.cache
def load_default() -> ObjectRegistry:
    """The objects the package ships (`OBJECTS_DIR`), loaded once."""
    return load_directory(OBJECTS_DIR)


def objectspec_json(model: ObjectModel) -> dict[str, Any]:
    """One entry of Leshan's `GET /api/objectspecs` (demo server's ObjectModelSerDes)."""
    return {
        "id": model.id,
        "name": model.name,
        "instancetype": "multiple" if model.multiple else "single",
        "mandatory": model.mandatory,
        "urn": model.urn,
        "version": model.version,
        "lwm2mversion": model.lwm2m_version,
        "description": model.description,
        "description2": "",
        "resourcedefs": [
            {
                "id": r.id,
                "name": r.name,
                "operations": r.operations or "NONE",
                "instancetype": "multiple" if r.multiple else "single",
                "mandatory": r.mandatory,
                "type": _LESHAN_TYPES.get(r.type, r.type.name.lower()),
                "range": r.range,
                "units": r.units,
                "description": r.description,
            }
            for r in sorted(model.resources.values(), key=lambda r: r.id)
        ],
    }


# -- stage 1: bytes -> XML tree ------------------------------------------------------------------


def _parse(data: bytes, source: str) -> Element:
    if len(data) > MAX_DDF_BYTES:
        raise ModelError(
            f"{source}: {len(data)} bytes, a DDF file may have at most {MAX_DDF_BYTES}"
        )
    try:
        root: Element = fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ModelError(
            f"{source}: refused ({type(exc).__name__}): DDF files may not contain a DTD or entity "
            "declarations, so entity expansion and external entities are never processed"
        ) from None
    except ParseError as exc:
        raise ModelError(f"{source}: not well-formed XML: {exc}") from None
    return root


# -- stage 2: XML tree -> validated, immutable models ----------------------------------------------


def _text(parent: Element, tag: str, where: str, *, required: bool = True) -> str:
    child = parent.find(tag)
    if child is None:
        if required:
            raise ModelError(f"{where}: missing <{tag}>")
        return ""
    return (child.text or "").strip()


def _choice(parent: Element, tag: str, where: str, yes: str, no: str) -> bool:
    value = _text(parent, tag, where)
    if value not in (yes, no):
        raise ModelError(f"{where}: <{tag}> is {value!r}, expected {yes!r} or {no!r}")
    return value == yes


def _int(text: str, what: str, where: str, high: int) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= high:
        raise ModelError(f"{where}: {what} {text!r} is not an integer in 0..{high}")
    return int(text)


def _version(element: Element, tag: str, where: str) -> str:
    """'major.minor'; an absent element means 1.0 (LWM2M.xsd makes both versions optional)."""
    version = _text(element, tag, where, required=False) or "1.0"
    if not _VERSION.fullmatch(version):
        raise ModelError(f"{where}: <{tag}> is {version!r}, expected 'major.minor'")
    return version


def _urn_kind(object_id: int) -> str:
    if object_id <= 1023:
        return "oma"
    return "ext" if object_id <= 10240 else "x"


def _object(element: Element, source: str) -> ObjectModel:
    where = f"{source}: <Object>"
    object_id = _int(_text(element, "ObjectID", where), "<ObjectID>", where, 65534)
    where = f"{source}: object {object_id}"
    if 1024 <= object_id <= 2047 or object_id >= 42801:
        raise ModelError(f"{where}: <ObjectID> is in a reserved range (1024-2047, 42801-65534)")
    name = _text(element, "Name", where)
    if not name:
        raise ModelError(f"{where}: <Name> is empty")
    version = _version(element, "ObjectVersion", where)
    lwm2m_version = _version(element, "LWM2MVersion", where)
    urn = _text(element, "ObjectURN", where)
    base = f"urn:oma:lwm2m:{_urn_kind(object_id)}:{object_id}"
    allowed = (base, f"{base}:1.0") if version == "1.0" else (f"{base}:{version}",)
    if urn not in allowed:
        raise ModelError(f"{where}: <ObjectURN> is {urn!r}, expected {allowed[0]!r}")
    multiple = _choice(element, "MultipleInstances", where, "Multiple", "Single")
    mandatory = _choice(element, "Mandatory", where, "Mandatory", "Optional")
    description = _text(element, "Description1", where)
    resources_element = element.find("Resources")
    if resources_element is None:
        raise ModelError(f"{where}: missing <Resources>")
    resources: dict[int, ResourceModel] = {}
    for item in resources_element.findall("Item"):
        resource = _resource(item, where, lwm2m_version)
        if resource.id in resources:
            raise ModelError(f"{where}: duplicate resource id {resource.id} in <Resources>")
        resources[resource.id] = resource
    if not resources:
        raise ModelError(f"{where}: <Resources> holds no <Item>")
    return ObjectModel(
        id=object_id,
        name=name,
        description=description,
        version=version,
        lwm2m_version=lwm2m_version,
        urn=urn,
        multiple=multiple,
        mandatory=mandatory,
        resources=resources,
    )


def _resource(item: Element, object_where: str, lwm2m_version: str) -> ResourceModel:
    resource_id = _int(item.get("ID", ""), "<Item ID>", f"{object_where} <Item>", 65534)
    where = f"{object_where} resource {resource_id}"
    name = _text(item, "Name", where)
    if not name:
        raise ModelError(f"{where}: <Name> is empty")
    operations = _text(item, "Operations", where)
    if operations not in OPERATIONS:
        raise ModelError(f"{where}: <Operations> is {operations!r}, expected R, W, RW, E or empty")
    type_text = _text(item, "Type", where)
    try:
        resource_type = ResourceType.from_ddf(type_text)
    except ValueError:
        raise ModelError(f"{where}: <Type> {type_text!r} is not an LwM2M data type") from None
    if (operations == "E") != (resource_type is ResourceType.NONE):
        raise ModelError(f"{where}: <Type> must be empty exactly when <Operations> is E")
    if lwm2m_version == "1.0" and resource_type not in _TYPES_1_0:
        raise ModelError(f"{where}: <Type> {type_text!r} does not exist in LwM2M 1.0")
    return ResourceModel(
        id=resource_id,
        name=name,
        operations=operations,
        multiple=_choice(item, "MultipleInstances", where, "Multiple", "Single"),
        mandatory=_choice(item, "Mandatory", where, "Mandatory", "Optional"),
        type=resource_type,
        range=_text(item, "RangeEnumeration", where, required=False),
        units=_text(item, "Units", where, required=False),
        description=_text(item, "Description", where, required=False),
    )
