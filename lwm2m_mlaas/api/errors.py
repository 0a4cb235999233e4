"""The one place where errors become HTTP answers. Leshan's routes answer in text/plain with
Leshan's wording; the mlaas routes answer JSON {"status", "message"}."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from ..core.errors import Lwm2mError, UnknownRegistration
from ..fleet.rollout import InvalidRollout, RolloutRefused

log = logging.getLogger(__name__)

MLAAS_PREFIX = "/api/mlaas"


class ApiError(Exception):
    """An HTTP answer other than success, with the message the caller reads."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> ApiError:
    return ApiError(400, f"Invalid request: {message}")


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


async def json_body(request: web.Request) -> Any:
    """The request's JSON body; a 400 for whatever json cannot read (syntax, encoding, nesting
    too deep, numbers too long)."""
    try:
        return await request.json()
    except json.JSONDecodeError as exc:
        raise bad_request(f"the body is not JSON ({exc.msg} at {exc.pos})") from None
    except UnicodeDecodeError:
        raise bad_request("the body is not UTF-8") from None
    except (RecursionError, ValueError) as exc:
        raise bad_request(f"the body is not usable JSON: {str(exc)[:80]}") from None


def http_error(request: web.Request, exc: BaseException) -> web.Response:
    status, message = _status_and_message(exc)
    if isinstance(exc, web.HTTPException) and status in (404, 405):
        message = f"{message}: {request.method} {request.path}"
    if status >= 500:
        log.error("%s %s failed", request.method, request.path, exc_info=exc)
    headers = {"WWW-Authenticate": 'Bearer realm="mlaas"'} if status == 401 else None
    if request.path.startswith(MLAAS_PREFIX) or request.path == "/api/openapi.json":
        return web.json_response({"status": status, "message": message}, status=status,
                                 headers=headers)  # fmt: skip
    return web.Response(status=status, text=message, headers=headers)


def _status_and_message(exc: BaseException) -> tuple[int, str]:
    match exc:
        case ApiError():
            return exc.status, exc.message
        case UnknownRegistration():
            return 400, str(exc)  # Leshan answers 400 for an unknown client
        case RolloutRefused():
            return 409, str(exc)
        case InvalidRollout():
            return 400, f"Invalid request: {exc}"
        case Lwm2mError() if exc.code.value >> 5 == 4:
            return 400, f"Invalid request: {exc}"
        case UnicodeDecodeError():  # an execute argument or a text/plain body
            return 400, "Invalid request: the body is not UTF-8"
        case TimeoutError():
            return 504, "Request timeout"
        case web.HTTPException():
            reason = exc.reason
            if exc.status == 404:
                reason = "no such route"
            elif exc.status == 405:
                reason = "method not allowed on this route"
            return exc.status, f"{exc.status} {reason}"
        case _:
            return 500, f"Unexpected exception: {type(exc).__name__}: {exc}"
