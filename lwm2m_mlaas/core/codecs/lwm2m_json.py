"""LwM2M JSON (content format 11543, and 1543 from LwM2M 1.0 drafts): LwM2M 1.0 Core 6.4.4.

`{"bn": base name, "bt": base time, "e": [{"n", "v"|"sv"|"bv"|"ov", "t"}]}`: numbers in "v",
strings and base64 opaque values in "sv", booleans in "bv", object links "O:I" in "ov".
Names resolve like SenML (base name + name), so the SenML resolution is reused.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ..content_format import ContentFormat
from ..errors import CodecError
from ..model import ObjectRegistry
from ..nodes import Node, ResourceType
from ..paths import Lwm2mPath
from ._senml import Entry, Record, node_records, resolve, to_leaves
from ._values import build_node, model_type
from .senml_json import decode_base64

_TO_JSON = {"v": "v", "vs": "sv", "vb": "bv", "vlo": "ov"}
_FROM_JSON = {"v": "v", "sv": "vs", "bv": "vb", "ov": "vlo"}


def _reject_constant(name: str) -> Any:
    raise CodecError(f"LwM2M JSON: {name} is not a valid number")


class Lwm2mJsonCodec:
    def __init__(self, content_format: ContentFormat) -> None:
        self.content_format = content_format

    def encode(self, node: Node, path: Lwm2mPath, model: ObjectRegistry) -> bytes:
        records = node_records(node, path)
        base = records[0].pop("bn") if records else str(path)
        entries: list[Record] = []
        for record in records:
            entry: Record = {"n": record.pop("n")} if "n" in record else {}
            ((label, value),) = record.items()
            if label == "vd":
                entry["sv"] = base64.b64encode(value).decode("ascii")
            else:
                entry[_TO_JSON[label]] = value
            entries.append(entry)
        document = {"bn": base, "e": entries}
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def decode(self, data: bytes, path: Lwm2mPath, model: ObjectRegistry) -> Node:
        try:
            document = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
        except UnicodeDecodeError as exc:
            raise CodecError(f"LwM2M JSON payload is not UTF-8 ({exc.reason})") from None
        except json.JSONDecodeError as exc:
            raise CodecError(f"LwM2M JSON payload is not JSON: {exc}") from None
        except (RecursionError, ValueError) as exc:  # nested too deep, numbers too long
            raise CodecError(f"LwM2M JSON payload is not usable JSON: {str(exc)[:80]}") from None
        if not isinstance(document, dict) or not isinstance(document.get("e"), list):
            raise CodecError("LwM2M JSON payload must be an object with an 'e' array")
        records: list[object] = []
        for index, item in enumerate(document["e"]):
            if not isinstance(item, dict):
                raise CodecError(f"LwM2M JSON entry {index} is not an object")
            record: Record = {_FROM_JSON.get(str(k), str(k)): v for k, v in item.items()}
            records.append(record)
        if records:
            head: Record = records[0]  # type: ignore[assignment]
            for key in ("bn", "bt"):
                if key in document:
                    head[key] = document[key]
            if "bn" in head and isinstance(head["bn"], str) and not head["bn"].startswith("/"):
                head["bn"] = "/" + head["bn"]  # Leshan and some clients omit the leading slash
        entries = [self._opaque(entry, model) for entry in resolve(records)]
        return build_node(path, to_leaves(entries, model), model)

    @staticmethod
    def _opaque(entry: Entry, model: ObjectRegistry) -> Entry:
        """Opaque values travel as base64 in "sv"."""
        if entry.label == "vs" and model_type(model, entry.path) is ResourceType.OPAQUE:
            where = f"LwM2M JSON entry {entry.position} ({entry.path})"
            return entry._replace(label="vd", value=decode_base64(entry.value, where))
        return entry


JSON = Lwm2mJsonCodec(ContentFormat.JSON)
OLD_JSON = Lwm2mJsonCodec(ContentFormat.OLD_JSON)
