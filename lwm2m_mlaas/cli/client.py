"""The REST API client behind the operator commands: one request per call, errors as one line."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..api.auth import TOKEN_FILE
from ..config import ServerConfig

DEFAULT_SERVER = "http://127.0.0.1:8080"


class ApiFailure(Exception):
    """What went wrong, in one line a person can act on."""


def find_token(given: str | None, data_dir: Path | None = None) -> str | None:
    """--token, else MLAAS_TOKEN, else the data dir's api-token (`data_dir`, else
    MLAAS_DATA_DIR or the default data dir), for a server on this machine."""
    if given:
        return given
    if os.environ.get("MLAAS_TOKEN"):
        return os.environ["MLAAS_TOKEN"]
    path = ServerConfig.load(data_dir=data_dir).data_dir / TOKEN_FILE
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


@dataclass(frozen=True)
class ApiClient:
    server: str = DEFAULT_SERVER
    token: str | None = None
    timeout: float = 300.0

    def _request(self, method: str, path: str, query: Mapping[str, Any] | None = None,
                 body: Any = None, data: bytes | None = None,
                 content_type: str = "application/json") -> Any:  # fmt: skip
        url = self.server.rstrip("/") + path
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            raise ApiFailure(_message(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiFailure(f"cannot reach the server at {self.server}: {reason}") from None

    def call(self, method: str, path: str, query: Mapping[str, Any] | None = None,
             body: Any = None, data: bytes | None = None,
             content_type: str = "application/json") -> Any:  # fmt: skip
        """The answer's JSON (None for an empty answer)."""
        with self._request(method, path, query, body, data, content_type) as response:
            raw = response.read()
        return json.loads(raw) if raw.strip() else None

    def get(self, path: str, **query: Any) -> Any:
        return self.call("GET", path, query)

    def events(self, endpoint: str | None = None) -> Iterator[tuple[str, Any]]:
        """(name, data) of each server-sent event from now on, as they come."""
        response = self._request("GET", "/api/event", {"ep": endpoint})
        response.readline()  # the stream is open: nothing from now on is missed
        return self._read_events(response)

    @staticmethod
    def _read_events(response: Any) -> Iterator[tuple[str, Any]]:
        with response:
            name = None
            for raw in response:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name is not None:
                    yield name, json.loads(line[6:])
                    name = None


def _message(error: urllib.error.HTTPError) -> str:
    text = error.read().decode(errors="replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "message" in parsed:
        text = str(parsed["message"])
    if error.code == 401:
        text += " (give --token, set MLAAS_TOKEN, or run where the server's data dir is)"
    return f"HTTP {error.code}: {text or error.reason}"
