"""LwM2M paths: /O, /O/I, /O/I/R, /O/I/R/RI, and the root /."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidPath

MAX_ID = 65535


@dataclass(frozen=True, order=True, slots=True)
class Lwm2mPath:
    """An LwM2M path as a tuple of up to four ids; `Lwm2mPath(())` is the root."""

    ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.ids) > 4:
            raise InvalidPath(f"path has {len(self.ids)} levels, at most 4 allowed")
        for level, value in enumerate(self.ids):
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidPath(f"path id {value!r} is not an integer")
            # 65535 is reserved for object instance ids (LwM2M 1.1 7.1)
            limit = MAX_ID - 1 if level == 1 else MAX_ID
            if not 0 <= value <= limit:
                raise InvalidPath(f"path id {value} out of range 0..{limit}")

    @classmethod
    def of(cls, *ids: int) -> Lwm2mPath:
        return cls(tuple(ids))

    @classmethod
    def parse(cls, text: str) -> Lwm2mPath:
        """Parse '/3/0/1', '3/0/1' or '/' (a trailing slash is tolerated)."""
        stripped = text.strip().strip("/")
        if not stripped:
            return cls(())
        ids: list[int] = []
        for part in stripped.split("/"):
            if not (part.isascii() and part.isdigit()) or (len(part) > 1 and part[0] == "0"):
                raise InvalidPath(f"invalid path {text!r}: {part!r} is not a decimal id")
            ids.append(int(part))
        return cls(tuple(ids))

    def __str__(self) -> str:
        return "/" + "/".join(str(i) for i in self.ids)

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(str(i) for i in self.ids)

    @property
    def object_id(self) -> int | None:
        return self.ids[0] if len(self.ids) > 0 else None

    @property
    def instance_id(self) -> int | None:
        return self.ids[1] if len(self.ids) > 1 else None

    @property
    def resource_id(self) -> int | None:
        return self.ids[2] if len(self.ids) > 2 else None

    @property
    def resource_instance_id(self) -> int | None:
        return self.ids[3] if len(self.ids) > 3 else None

    @property
    def is_root(self) -> bool:
        return not self.ids

    @property
    def is_object(self) -> bool:
        return len(self.ids) == 1

    @property
    def is_object_instance(self) -> bool:
        return len(self.ids) == 2

    @property
    def is_resource(self) -> bool:
        return len(self.ids) == 3

    @property
    def is_resource_instance(self) -> bool:
        return len(self.ids) == 4

    def child(self, child_id: int) -> Lwm2mPath:
        return Lwm2mPath((*self.ids, child_id))

    @property
    def parent(self) -> Lwm2mPath:
        if not self.ids:
            raise InvalidPath("the root path has no parent")
        return Lwm2mPath(self.ids[:-1])

    def startswith(self, other: Lwm2mPath) -> bool:
        return self.ids[: len(other.ids)] == other.ids


ROOT = Lwm2mPath(())
