"""OSCORE (RFC 8613) security contexts held in memory, for aiocoap's OSCORE transport and site
wrapper: the server keeps one per endpoint, a simulated device one per server account."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import aiocoap
from aiocoap.numbers.codes import Code
from aiocoap.oscore import (
    CanProtect,
    CanUnprotect,
    ReplayWindow,
    SecurityContextUtils,
    algorithms,
    hashfunctions,
)

from .core.security import SEQUENCE_RESERVE, OscoreSetting


class OscoreContext(CanProtect, CanUnprotect, SecurityContextUtils):
    """One OSCORE security context, used both to send requests and to answer the peer's.

    Its replay window starts uninitialised, so the peer's first request after a start is
    answered with Echo (RFC 8613 B.1.2) and nothing from before can be replayed. `reserve` is
    called when half the reserved sequence numbers are used; it must persist a further
    SEQUENCE_RESERVE and then call `reserved_up_to`."""

    def __init__(self, setting: OscoreSetting, claim: object, sequence: int,
                 reserve: Callable[[OscoreContext], None] | None = None) -> None:  # fmt: skip
        self.endpoint = claim
        self.alg_aead = algorithms["AES-CCM-16-64-128"]
        self.hashfun = hashfunctions["sha256"]
        self.sender_id, self.recipient_id = setting.sender_id, setting.recipient_id
        self.id_context = None
        self.derive_keys(setting.master_salt, setting.master_secret)
        self.sender_sequence_number = sequence
        self.reserved = sequence + SEQUENCE_RESERVE
        self.recipient_replay_window = ReplayWindow(32, lambda: None)
        self.echo_recovery = secrets.token_bytes(8)
        self.authenticated_claims = [claim]
        self._reserve = reserve
        self._reserving = False

    def post_seqnoincrease(self) -> None:
        due = self.reserved - SEQUENCE_RESERVE // 2
        if self._reserving or self.sender_sequence_number < due:
            return
        if self._reserve is None:
            self.reserved += SEQUENCE_RESERVE
            return
        self._reserving = True
        self._reserve(self)

    def reserved_up_to(self, upto: int) -> None:
        self.reserved, self._reserving = upto, False


class OscoreLookup:
    """aiocoap server credentials holding one context (a device's, for its server)."""

    def __init__(self, context: OscoreContext) -> None:
        self.context = context

    def find_oscore(self, unprotected: object) -> OscoreContext:
        if self.context.get_oscore_context_for(unprotected) is None:
            raise KeyError("no OSCORE context for this kid")
        return self.context


def oscore_site(site: Any, credentials: Any) -> Any:
    """`site` behind aiocoap's OSCORE wrapper, which answers a malformed OSCORE option with
    4.02 Bad Option (RFC 8613 8.2) here instead of aiocoap's 5.00."""
    from aiocoap import oscore
    from aiocoap.oscore_sitewrapper import OscoreSiteWrapper

    class Guarded(OscoreSiteWrapper):
        async def render_to_pipe(self, pipe: Any) -> None:
            try:
                oscore.verify_start(pipe.request)
            except oscore.NotAProtectedMessage:
                pass
            except Exception:
                pipe.add_response(aiocoap.Message(code=Code.BAD_OPTION, content_format=0,
                                                  payload=b"malformed OSCORE option"),
                                  is_last=True)  # fmt: skip
                return
            await super().render_to_pipe(pipe)

    return Guarded(site, credentials)
