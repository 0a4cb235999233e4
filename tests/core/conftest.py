"""Shared fixtures for core tests: a hand-built object model (independent of objects/ so codec
tests do not move when a DDF file changes) and the Device instance of the LwM2M examples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lwm2m_mlaas.core.model import ObjectModel, ObjectRegistry, ResourceModel
from lwm2m_mlaas.core.nodes import MultiResource, ObjectInstance, ResourceType, SingleResource

T = ResourceType
TYPES_OBJECT = 32766
"""A test object with one resource of every type: single ones at id = position in this list,
multiple ones at 10 + position."""
ALL_TYPES = (
    T.STRING,
    T.INTEGER,
    T.UNSIGNED_INTEGER,
    T.FLOAT,
    T.BOOLEAN,
    T.OPAQUE,
    T.TIME,
    T.OBJLNK,
    T.CORELNK,
)


def _object(object_id: int, name: str, *resources: tuple[int, ResourceType, bool]) -> ObjectModel:
    return ObjectModel(
        id=object_id,
        name=name,
        description="",
        version="1.0",
        lwm2m_version="1.1",
        urn=f"urn:oma:lwm2m:oma:{object_id}",
        multiple=True,
        mandatory=False,
        resources={
            rid: ResourceModel(rid, f"res{rid}", "E" if t is T.NONE else "RW", multi, False, t)
            for rid, t, multi in resources
        },
    )


def build_registry() -> ObjectRegistry:
    return ObjectRegistry.of(
        [
            _object(0, "LWM2M Security", (0, T.STRING, False), (1, T.BOOLEAN, False),
                    (2, T.INTEGER, False), (3, T.OPAQUE, False), (10, T.INTEGER, False),
                    (16, T.UNSIGNED_INTEGER, False)),
            _object(1, "LwM2M Server", (0, T.INTEGER, False), (1, T.INTEGER, False),
                    (2, T.INTEGER, False), (6, T.BOOLEAN, False), (7, T.STRING, False)),
            _object(2, "LwM2M Access Control", (0, T.INTEGER, False), (1, T.INTEGER, False),
                    (2, T.INTEGER, True), (3, T.INTEGER, False)),
            _object(3, "Device", (0, T.STRING, False), (1, T.STRING, False),
                    (2, T.STRING, False), (3, T.STRING, False), (4, T.NONE, False),
                    (6, T.INTEGER, True), (7, T.INTEGER, True), (8, T.INTEGER, True),
                    (9, T.INTEGER, False), (10, T.INTEGER, False), (11, T.INTEGER, True),
                    (13, T.TIME, False), (14, T.STRING, False), (15, T.STRING, False),
                    (16, T.STRING, False)),
            _object(5, "Firmware Update", (0, T.OPAQUE, False), (1, T.STRING, False),
                    (2, T.NONE, False), (3, T.INTEGER, False), (5, T.INTEGER, False),
                    (6, T.STRING, False), (7, T.STRING, False), (8, T.INTEGER, True),
                    (9, T.INTEGER, False)),
            # objects 65 and 66 of the LwM2M TLV object link example (TS Core 7.4.3.3)
            _object(65, "object link test 65", (0, T.OBJLNK, True), (1, T.STRING, False),
                    (2, T.INTEGER, False)),
            _object(66, "object link test 66", (0, T.STRING, False), (1, T.STRING, False),
                    (2, T.OBJLNK, False)),
            _object(TYPES_OBJECT, "every type",
                    *((i, t, False) for i, t in enumerate(ALL_TYPES)),
                    *((10 + i, t, True) for i, t in enumerate(ALL_TYPES))),
        ]
    )  # fmt: skip


@pytest.fixture(scope="session")
def model() -> ObjectRegistry:
    return build_registry()


def device_instance() -> ObjectInstance:
    """Device instance /3/0 of the LwM2M TS Core examples (TLV 7.4.3.1, SenML JSON 7.4.4)."""
    return ObjectInstance.of(
        0,
        SingleResource(0, T.STRING, "Open Mobile Alliance"),
        SingleResource(1, T.STRING, "Lightweight M2M Client"),
        SingleResource(2, T.STRING, "345000123"),
        SingleResource(3, T.STRING, "1.0"),
        MultiResource(6, T.INTEGER, {0: 1, 1: 5}),
        MultiResource(7, T.INTEGER, {0: 3800, 1: 5000}),
        MultiResource(8, T.INTEGER, {0: 125, 1: 900}),
        SingleResource(9, T.INTEGER, 100),
        SingleResource(10, T.INTEGER, 15),
        MultiResource(11, T.INTEGER, {0: 0}),
        SingleResource(13, T.TIME, datetime.fromtimestamp(1367491215, UTC)),
        SingleResource(14, T.STRING, "+02:00"),
        SingleResource(16, T.STRING, "U"),
    )


@pytest.fixture
def device() -> ObjectInstance:
    return device_instance()
