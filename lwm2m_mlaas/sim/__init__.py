"""Simulated LwM2M devices (aiocoap), faithful to Zephyr's client."""

from .device import DeviceConfig, SimulatedDevice
from .profile import BOARDS, BoardProfile

__all__ = [
    "BOARDS",
    "BoardProfile",
    "DeviceConfig",
    "SimulatedDevice",
]
