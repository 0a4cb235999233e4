"""JSON shapes of the mlaas API (and of the CLI's --json output): one function per record."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from ..compiler.targets import DeviceClass
from ..core.artifact import StoredArtifact, StoredCompile
from ..core.delivery import Delivery
from ..core.fleet import DeviceRecord, Rollout, RolloutMember
from ..fleet.provisioning import Provision
from ..fleet.trust import KeyState
from ..zoo import ZooModel


def device_class_json(c: DeviceClass) -> dict[str, Any]:
    return {"name": c.name, "board": c.board, "core": c.core, "clock_mhz": c.clock_mhz,
            "ram_bytes": c.ram_bytes, "ml_ram_bytes": c.ml_ram_bytes,
            "ml_flash_bytes": c.ml_flash_bytes, "runtimes": list(c.runtimes),
            "ops": sorted(c.ops), "delivery": c.delivery}  # fmt: skip


def model_json(model: ZooModel) -> dict[str, Any]:
    return {
        "name": model.name, "task": model.task, "variant": model.variant,
        "version": model.version, "kind": str(model.kind), "source": model.source,
        "float_quality": model.float_quality, "threshold": model.threshold,
        "labels": list(model.labels), "model_path": str(model.model_path),
    }  # fmt: skip


def artifact_json(artifact: StoredArtifact) -> dict[str, Any]:
    return {"id": artifact.id, "model": artifact.model, "version": artifact.model_version,
            "task": artifact.task, "class": artifact.device_class, "backend": artifact.backend,
            "compiler_version": artifact.compiler_version, "arena_bytes": artifact.arena_bytes,
            "model_bytes": artifact.model_bytes, "package_bytes": artifact.package_bytes,
            "quality": dict(artifact.quality), "created": artifact.created}  # fmt: skip


def compile_json(outcome: StoredCompile,
                 side_by_side: Sequence[StoredCompile] = ()) -> dict[str, Any]:  # fmt: skip
    """A compile outcome; `side_by_side`, the same target and class compiled for each of the
    class's backends, adds "backends": their arena and flash figures, one entry each."""
    artifact = outcome.artifact
    result: dict[str, Any] = {"task": outcome.task, "class": outcome.device_class,
                              "compiler_version": outcome.compiler_version,
                              "backend": outcome.backend, "fits": artifact is not None}  # fmt: skip
    if artifact is None:
        result["reason"] = outcome.reason
    else:
        result.update(artifact_json(artifact), package=artifact.path)
    if side_by_side:
        result["backends"] = [backend_json(o) for o in side_by_side]
    return result


def backend_json(outcome: StoredCompile) -> dict[str, Any]:
    """One backend's figures for a side-by-side comparison: RAM (arena, and what the class must
    offer) and flash (payload and package bytes), or why nothing fits."""
    artifact = outcome.artifact
    if artifact is None:
        return {"backend": outcome.backend, "fits": False, "reason": outcome.reason}
    return {"backend": outcome.backend, "fits": True, "model": artifact.model,
            "artifact": artifact.id, "arena_bytes": artifact.arena_bytes,
            "ram_needed": artifact.quality.get("ram_needed"),
            "payload_bytes": artifact.model_bytes, "package_bytes": artifact.package_bytes,
            "int8": artifact.quality.get("int8")}  # fmt: skip


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return asdict(delivery)


def provision_json(provision: Provision) -> dict[str, Any]:
    return {"stage": provision.stage, "class": provision.device_class,
            "target": provision.target, "model": provision.model,
            "artifact": provision.artifact_id, "arena_bytes": provision.arena_bytes,
            "backend": provision.backend, "mode": provision.mode,
            "reason": provision.reason}  # fmt: skip


def member_json(member: RolloutMember) -> dict[str, Any]:
    return {"endpoint": member.endpoint, "wave": member.wave, "state": member.state,
            "reason": member.reason, "class": member.device_class,
            "artifact": member.artifact_id, "previous_artifact": member.previous_artifact_id,
            "delivery": member.delivery_id, "finished": member.finished}  # fmt: skip


def rollout_json(rollout: Rollout, members: Sequence[RolloutMember],
                 detailed: bool = False) -> dict[str, Any]:  # fmt: skip
    """A rollout with its counts per member state, overall and per wave."""
    shaped: dict[str, Any] = {
        "id": rollout.id, "name": rollout.name, "target": rollout.target,
        "selector": dict(rollout.selector), "max_concurrent": rollout.max_concurrent,
        "failure_threshold": rollout.failure_threshold, "state": rollout.state,
        "reason": rollout.reason, "created": rollout.created, "updated": rollout.updated,
        "devices": len(members), "counts": dict(Counter(m.state for m in members)),
        "waves": [{"wave": wave, "planned": size,
                   "counts": dict(Counter(m.state for m in members if m.wave == wave))}
                  for wave, size in enumerate(rollout.waves)],
    }  # fmt: skip
    if detailed:
        shaped["members"] = [member_json(m) for m in members]
    return shaped


def device_record_json(device: DeviceRecord | None) -> dict[str, Any]:
    if device is None:
        return {"class": None, "task": None, "tags": []}
    return {"class": device.device_class, "task": device.task, "tags": list(device.tags)}


def signing_key_json(state: KeyState) -> dict[str, Any]:
    key = state.key
    return {"id": key.key_id, "position": key.position, "public_key": key.public_key.hex(),
            "created": key.created, "active": state.active, "retired": key.retired,
            "trusted_by": state.trusted_by, "needed_by": state.needed_by}  # fmt: skip
