"""The LwM2M node tree: objects, instances, resources, resource instances. All frozen."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import TypeAlias


class ResourceType(Enum):
    """LwM2M data types (LwM2M 1.1 Appendix C), named as in DDF files and Leshan's JSON."""

    STRING = "String"
    INTEGER = "Integer"
    UNSIGNED_INTEGER = "Unsigned Integer"
    FLOAT = "Float"
    BOOLEAN = "Boolean"
    OPAQUE = "Opaque"
    TIME = "Time"
    OBJLNK = "Objlnk"
    CORELNK = "Corelnk"
    NONE = "none"

    @classmethod
    def from_ddf(cls, text: str) -> ResourceType:
        key = text.strip().lower()
        for member in cls:
            if member.value.lower() == key:
                return member
        if key == "":
            return cls.NONE
        raise ValueError(f"unknown resource type {text!r}")


@dataclass(frozen=True, slots=True)
class ObjectLink:
    """Objlnk value 'O:I'."""

    object_id: int
    instance_id: int

    def __str__(self) -> str:
        return f"{self.object_id}:{self.instance_id}"


Value: TypeAlias = str | int | float | bool | bytes | datetime | ObjectLink


def _frozen(mapping: Mapping[int, object] | Iterable[object]) -> Mapping[int, object]:
    return MappingProxyType(dict(mapping))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class ResourceInstance:
    id: int
    type: ResourceType
    value: Value


@dataclass(frozen=True, slots=True)
class SingleResource:
    id: int
    type: ResourceType
    value: Value


@dataclass(frozen=True, slots=True)
class MultiResource:
    """A multiple-instance resource; `instances` maps instance id to value."""

    id: int
    type: ResourceType
    instances: Mapping[int, Value] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "instances", _frozen(self.instances))


Resource: TypeAlias = SingleResource | MultiResource


@dataclass(frozen=True, slots=True)
class ObjectInstance:
    id: int
    resources: Mapping[int, Resource] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "resources", _frozen(self.resources))

    @classmethod
    def of(cls, instance_id: int, *resources: Resource) -> ObjectInstance:
        return cls(instance_id, {r.id: r for r in resources})


@dataclass(frozen=True, slots=True)
class Lwm2mObject:
    id: int
    instances: Mapping[int, ObjectInstance] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "instances", _frozen(self.instances))

    @classmethod
    def of(cls, object_id: int, *instances: ObjectInstance) -> Lwm2mObject:
        return cls(object_id, {i.id: i for i in instances})


Node: TypeAlias = Lwm2mObject | ObjectInstance | SingleResource | MultiResource | ResourceInstance
