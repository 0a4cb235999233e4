"""Stage 3: the static memory plan. Every activation buffer gets a fixed offset in one arena;
two buffers may share bytes only if their lifetimes (from the step that writes the buffer to
the last step that reads it) are disjoint. Placement is greedy first-fit, largest buffer first,
the way TFLite-Micro's GreedyMemoryPlanner packs its arena."""

from __future__ import annotations

from dataclasses import dataclass

ALIGN = 4
"""Offsets are word-aligned (word loads of int8 data in the DSP kernels)."""


@dataclass(frozen=True, slots=True)
class Buffer:
    name: int
    """The caller's key (the tensor index of the buffer's root)."""
    size: int
    first: int
    """Step that writes it."""
    last: int
    """Last step that reads it (== first if nothing reads it)."""


@dataclass(frozen=True, slots=True)
class Placement:
    buffer: Buffer
    offset: int


@dataclass(frozen=True, slots=True)
class MemoryPlan:
    placements: tuple[Placement, ...]
    arena_bytes: int

    def offset(self, name: int) -> int:
        for p in self.placements:
            if p.buffer.name == name:
                return p.offset
        raise KeyError(name)

    @property
    def unshared_bytes(self) -> int:
        """What the arena would need without any reuse."""
        return sum(_align(p.buffer.size) for p in self.placements)


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def live_together(a: Buffer, b: Buffer) -> bool:
    return a.first <= b.last and b.first <= a.last


def plan_memory(buffers: list[Buffer]) -> MemoryPlan:
    placed: list[Placement] = []
    order = sorted(buffers, key=lambda b: (-b.size, b.first, b.name))
    for buffer in order:
        # candidate offsets: 0 and the end of every placed buffer that lives at the same time
        clashes = sorted(
            (p for p in placed if live_together(p.buffer, buffer)), key=lambda p: p.offset
        )
        offset = 0
        for p in clashes:
            if offset + buffer.size <= p.offset:
                break  # fits in the gap before p
            offset = max(offset, _align(p.offset + p.buffer.size))
        placed.append(Placement(buffer, offset))
    arena = max((_align(p.offset + p.buffer.size) for p in placed), default=0)
    placed.sort(key=lambda p: (p.buffer.first, p.buffer.name))
    return MemoryPlan(tuple(placed), arena)
