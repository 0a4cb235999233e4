"""The immutable LwM2M object model, built from DDF XML files by `ddf.load_*`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .nodes import ResourceType


@dataclass(frozen=True, slots=True)
class ResourceModel:
    id: int
    name: str
    operations: str
    """'R', 'W', 'RW', 'E' or '' (LwM2M 1.1 Appendix D)."""
    multiple: bool
    mandatory: bool
    type: ResourceType
    range: str = ""
    units: str = ""
    description: str = ""

    @property
    def readable(self) -> bool:
        return "R" in self.operations

    @property
    def writable(self) -> bool:
        return "W" in self.operations

    @property
    def executable(self) -> bool:
        return "E" in self.operations


@dataclass(frozen=True, slots=True)
class ObjectModel:
    id: int
    name: str
    description: str
    version: str
    lwm2m_version: str
    urn: str
    multiple: bool
    mandatory: bool
    resources: Mapping[int, ResourceModel] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "resources", MappingProxyType(dict(self.resources)))


@dataclass(frozen=True, slots=True)
class ObjectRegistry:
    """Object models by id; look-ups of unknown ids return None."""

    objects: Mapping[int, ObjectModel] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "objects", MappingProxyType(dict(self.objects)))

    @classmethod
    def of(cls, models: Iterable[ObjectModel]) -> ObjectRegistry:
        return cls({m.id: m for m in models})

    def object(self, object_id: int) -> ObjectModel | None:
        return self.objects.get(object_id)

    def resource(self, object_id: int, resource_id: int) -> ResourceModel | None:
        model = self.objects.get(object_id)
        return model.resources.get(resource_id) if model else None

    def __iter__(self) -> Iterator[ObjectModel]:
        return iter(sorted(self.objects.values(), key=lambda m: m.id))

    def __len__(self) -> int:
        return len(self.objects)
