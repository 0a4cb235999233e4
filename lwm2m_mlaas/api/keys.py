"""Typed keys of the aiohttp application's state."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from ..fleet.app import MlaasService

SERVICE: web.AppKey[MlaasService] = web.AppKey("service")
TOKEN = web.AppKey("token", str)
STREAMS_CLOSING = web.AppKey("streams_closing", asyncio.Event)
"""Set at shutdown so that open event streams end at once."""
