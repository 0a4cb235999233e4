"""The zoo's tasks and their data: deterministic recipes (a seeded numpy Generator, no global
state) that yield a training set, a held-out test set and a representative set for int8
calibration. Pure numpy; scikit-learn only for its bundled digits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .model import TaskKind

Array = npt.NDArray[Any]
REPRESENTATIVE = 200
"""Inputs kept for int8 calibration (drawn from the training set)."""


@dataclass(frozen=True, slots=True)
class Dataset:
    x_train: Array
    y_train: Array
    """Class indices (classification), targets (regression) or zeros (anomaly: all normal)."""
    x_test: Array
    y_test: Array
    """Class indices, targets, or 1 = anomalous / 0 = normal."""
    representative: Array
    labels: tuple[str, ...] = ()


class Recipe(Protocol):
    """A task's data parameters (a frozen dataclass: they are part of the zoo's cache key)."""

    def dataset(self, rng: np.random.Generator) -> Dataset: ...


@dataclass(frozen=True, slots=True)
class Task:
    name: str
    kind: TaskKind
    recipe: Recipe

    def dataset(self, seed: int) -> Dataset:
        return self.recipe.dataset(np.random.default_rng(seed))


def _dataset(
    rng: np.random.Generator, x: Array, y: Array, n_test: int, labels: tuple[str, ...] = ()
) -> Dataset:
    """Shuffle, split off the last n_test as the test set, calibrate on the first training rows."""
    order = rng.permutation(len(x))
    x, y = x[order].astype(np.float32), y[order]
    return Dataset(
        x[:-n_test], y[:-n_test], x[-n_test:], y[-n_test:], x[:REPRESENTATIVE].copy(), labels
    )


# -- gesture: magic-wand style accelerometer windows -------------------------------------------

GESTURES = ("wing", "ring", "slope", "negative")
_GRAVITY = np.array([0.0, 1.0, 0.0])
"""What the accelerometer reads at rest (g), before the wand's tilt."""
_STROKES = {
    # waypoints (metres) in the drawing plane: x to the right, y up
    "wing": ((0.0, 0.3), (0.1, 0.0), (0.2, 0.2), (0.3, 0.0), (0.4, 0.3)),
    "slope": ((0.3, 0.3), (0.0, 0.0), (0.3, 0.0)),
}


@dataclass(frozen=True, slots=True)
class Gesture:
    """Wand gestures drawn in the air, read by a 3-axis accelerometer at `rate` Hz, in g.
    Each window holds one gesture at a random offset, size (amplitude), duration (speed) and
    wand tilt; negatives are random smooth motions, single swipes or a hand at rest."""

    window: int = 64
    rate: float = 25.0
    per_class: int = 400
    test_per_class: int = 100
    noise: float = 0.05
    """Sensor noise (g, standard deviation)."""
    duration: tuple[float, float] = (1.0, 2.2)
    """Gesture duration range (s); the window lasts window / rate."""
    scale: tuple[float, float] = (0.7, 1.4)
    tilt_degrees: float = 20.0

    def dataset(self, rng: np.random.Generator) -> Dataset:
        n = self.per_class + self.test_per_class
        x = np.stack([self._window(rng, label) for label in GESTURES for _ in range(n)])
        y = np.repeat(np.arange(len(GESTURES)), n)
        return _dataset(rng, x[:, :, None, :], y, self.test_per_class * len(GESTURES), GESTURES)

    def _window(self, rng: np.random.Generator, label: str) -> Array:
        dt = 1.0 / self.rate
        steps = min(self.window - 2, round(rng.uniform(*self.duration) * self.rate))
        u = np.linspace(0.0, 1.0, steps)
        if label == "ring":
            turn = rng.choice([-1.0, 1.0]) * 2 * math.pi * _ease(u)
            path = 0.15 * np.stack([np.sin(turn), np.cos(turn) - 1.0, 0 * u], axis=1)
        elif label in _STROKES:
            path = _polyline(np.array(_STROKES[label]), u)
        else:
            path = self._negative(rng, u)
        position = np.zeros((self.window, 3))
        start = rng.integers(0, self.window - steps + 1)
        position[start : start + steps] = path * rng.uniform(*self.scale)
        position[start + steps :] = position[start + steps - 1]
        position[:start] = position[start]
        accel = np.gradient(np.gradient(position, dt, axis=0), dt, axis=0) / 9.81
        reading = (accel + _GRAVITY) @ _rotation(rng, self.tilt_degrees).T
        noisy: Array = reading + rng.normal(0.0, self.noise, reading.shape)
        return noisy

    @staticmethod
    def _negative(rng: np.random.Generator, u: Array) -> Array:
        match rng.integers(3):
            case 0:  # wandering hand: a few random low-frequency swings on every axis
                f = rng.uniform(0.5, 2.5, (3, 3))
                a = rng.uniform(0.0, 0.08, (3, 3))
                phase = rng.uniform(0, 2 * math.pi, (3, 3))
                swings: Array = (a * np.sin(2 * math.pi * f * u[:, None, None] + phase)).sum(1)
                return swings
            case 1:  # one straight swipe in a random direction
                direction = rng.normal(size=3)
                return np.outer(_ease(u), 0.3 * direction / np.linalg.norm(direction))
            case _:  # at rest
                return np.zeros((len(u), 3))


def _ease(u: Array) -> Array:
    """Smooth start and stop: velocity zero at both ends."""
    eased: Array = (1.0 - np.cos(math.pi * u)) / 2.0
    return eased


def _polyline(points: Array, u: Array) -> Array:
    """Visit the waypoints in equal time slices, easing in and out of each one."""
    segments = len(points) - 1
    t = np.minimum(u * segments, segments - 1e-9)
    i = t.astype(int)
    path = points[i] + (points[i + 1] - points[i]) * _ease(t - i)[:, None]
    return np.concatenate([path, np.zeros((len(u), 1))], axis=1)


def _rotation(rng: np.random.Generator, degrees: float) -> Array:
    a, b, c = np.radians(rng.uniform(-degrees, degrees, 3))
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx  # type: ignore[no-any-return]


# -- anomaly: machine vibration spectra ---------------------------------------------------------

FAULTS = ("bearing", "shifted", "broadband")


@dataclass(frozen=True, slots=True)
class Vibration:
    """Log-magnitude vibration spectra, scaled to about [0, 1]. Normal machines run at one of a
    few shaft speeds (fundamental bin) with decaying harmonics over a pink noise floor. Faults:
    bearing-defect tones with sidebands around the harmonics, harmonics shifted off their
    multiples (or the machine off its speeds), or a broadband rise of the floor in a band."""

    bins: int = 128
    speeds: tuple[float, ...] = (7.0, 9.5, 12.0)
    """Fundamental frequencies (bins) of the normal machine types."""
    harmonics: int = 6
    normal: int = 2000
    test_normal: int = 300
    test_per_fault: int = 100
    floor: float = 0.02

    def dataset(self, rng: np.random.Generator) -> Dataset:
        train = np.stack([self._spectrum(rng, None) for _ in range(self.normal)])
        faults = [f for f in FAULTS for _ in range(self.test_per_fault)]
        test = [self._spectrum(rng, None) for _ in range(self.test_normal)]
        test += [self._spectrum(rng, f) for f in faults]
        y_test = np.array([0] * self.test_normal + [1] * len(faults))
        order = rng.permutation(len(test))
        return Dataset(
            x_train=train,
            y_train=np.zeros(len(train), dtype=np.int64),
            x_test=np.stack(test)[order],
            y_test=y_test[order],
            representative=train[:REPRESENTATIVE].copy(),
            labels=("normal", "anomalous"),
        )

    def _spectrum(self, rng: np.random.Generator, fault: str | None) -> Array:
        k = np.arange(self.bins, dtype=np.float64)
        f0 = rng.choice(self.speeds) + rng.uniform(-0.3, 0.3)
        floor = self.floor * rng.uniform(0.8, 1.25) * (1.0 + 2.0 * np.exp(-k / 16.0))
        if fault == "broadband":
            lo, width = rng.uniform(20, self.bins - 40), rng.uniform(15, 30)
            band = 1 / (1 + np.exp(-(k - lo) / 2)) / (1 + np.exp((k - lo - width) / 2))
            floor *= 1.0 + rng.uniform(1.0, 3.0) * band
        if fault == "shifted" and rng.random() < 0.5:  # off its normal speeds
            gaps = np.diff(self.speeds)
            i = rng.integers(len(gaps))
            f0 = self.speeds[i] + gaps[i] * rng.uniform(0.35, 0.65)
        spectrum = floor * np.abs(1.0 + 0.3 * rng.normal(size=self.bins))
        level, decay = rng.uniform(0.7, 1.3), rng.uniform(0.5, 0.75)
        for h in range(1, self.harmonics + 1):
            centre = h * f0
            if fault == "shifted" and h > 1:
                centre += rng.choice([-1.0, 1.0]) * rng.uniform(0.6, 1.5)
            amplitude = level * decay ** (h - 1) * rng.uniform(0.7, 1.3)
            spectrum += _peak(k, centre, amplitude)
            if fault == "bearing" and h <= 3:
                side = rng.uniform(1.5, 3.0)
                spectrum += _peak(k, centre - side, amplitude * rng.uniform(0.05, 0.2))
                spectrum += _peak(k, centre + side, amplitude * rng.uniform(0.05, 0.2))
        if fault == "bearing":
            tone = f0 * rng.uniform(3.3, 3.7)
            for h in (1, 2):
                spectrum += _peak(k, h * tone, rng.uniform(0.03, 0.1))
        return np.clip((np.log10(spectrum) + 3.0) / 3.0, 0.0, None).astype(np.float32)


def _peak(k: Array, centre: float, amplitude: float, width: float = 0.8) -> Array:
    peak: Array = amplitude * np.exp(-0.5 * ((k - centre) / width) ** 2)
    return peak


# -- digits: scikit-learn's bundled 8x8 handwritten digits ---------------------------------------


@dataclass(frozen=True, slots=True)
class Digits:
    """The 1,797 8x8 digits that ship with scikit-learn, grey levels scaled to [0, 1]."""

    test: int = 450

    def dataset(self, rng: np.random.Generator) -> Dataset:
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        x = (x / 16.0).reshape(-1, 8, 8, 1)
        return _dataset(rng, x, y.astype(np.int64), self.test, tuple(str(d) for d in range(10)))


# -- sine: TFLite-Micro's hello world ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sine:
    """y = sin(x) + noise for x uniform in [0, 2 pi)."""

    samples: int = 1000
    test: int = 200
    noise: float = 0.1

    def dataset(self, rng: np.random.Generator) -> Dataset:
        x = rng.uniform(0.0, 2 * math.pi, (self.samples, 1))
        y = (np.sin(x) + rng.normal(0.0, self.noise, x.shape)).astype(np.float32)
        return _dataset(rng, x, y, self.test)


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("gesture", TaskKind.CLASSIFICATION, Gesture()),
        Task("anomaly", TaskKind.ANOMALY, Vibration()),
        Task("digits", TaskKind.CLASSIFICATION, Digits()),
        Task("sine", TaskKind.REGRESSION, Sine()),
    )
}
