"""aiocoap adapter: /rd, /bs and /fw resources, downlink requests, observations, queue mode,
DTLS-PSK and OSCORE."""

from .app import Lwm2mServer, build_server
from .events import Event, EventBus, EventKind
from .queue import Queued

__all__ = ["Event", "EventBus", "EventKind", "Lwm2mServer", "Queued", "build_server"]
