"""CoRE Link Format (RFC 6690): registration payloads and discover answers.

Grammar (RFC 6690 section 2, RFC 8288 for the parameters), as far as LwM2M uses it:
``link = "<" target ">" *( ";" name [ "=" ( ptoken / quoted-string ) ] )``, links separated by
``,``. Whitespace (including newlines) around separators is tolerated, as some clients send it.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import CodecError

_PTOKEN = frozenset(string.ascii_letters + string.digits + "!#$%&'()*+-./:<=>?@[]^_`{|}~")
_PARMNAME = frozenset(string.ascii_letters + string.digits + "!#$&+-.^_`|~*")
_ALWAYS_QUOTED = frozenset({"rt", "if", "anchor", "title", "rel", "rev", "type"})
_WHITESPACE = " \t\r\n"


@dataclass(frozen=True)
class Link:
    """One link: its target URI reference and its attributes in order (bare attribute -> None)."""

    target: str
    attributes: Mapping[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))

    def __hash__(self) -> int:
        return hash((self.target, tuple(self.attributes.items())))

    def __str__(self) -> str:
        return format_link_format((self,))


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str) -> CodecError:
        return CodecError(f"invalid link format at offset {self.pos}: {message}")

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = repr(self.peek()) if self.peek() else "end of payload"
            raise self.error(f"expected {char!r}, found {found}")
        self.pos += 1

    def take_while(self, allowed: frozenset[str]) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in allowed:
            self.pos += 1
        return self.text[start : self.pos]

    def target(self) -> str:
        self.expect("<")
        end = self.text.find(">", self.pos)
        if end < 0:
            raise self.error("unterminated '<' (missing '>')")
        value = self.text[self.pos : end]
        if not value.strip():
            raise self.error("empty link target '<>'")
        if any(c in value for c in '<,;"' + _WHITESPACE):
            raise self.error(f"invalid character in link target {value!r}")
        self.pos = end + 1
        return value

    def quoted(self) -> str:
        self.expect('"')
        out: list[str] = []
        while True:
            char = self.peek()
            if not char:
                raise self.error("unterminated quoted string")
            self.pos += 1
            if char == '"':
                return "".join(out)
            if char == "\\":
                if not self.peek():
                    raise self.error("unterminated quoted string")
                char = self.text[self.pos]
                self.pos += 1
            out.append(char)

    def link(self) -> Link:
        target = self.target()
        attributes: dict[str, str | None] = {}
        self.skip_ws()
        while self.peek() == ";":
            self.pos += 1
            self.skip_ws()
            name = self.take_while(_PARMNAME)
            if not name:
                raise self.error("expected an attribute name after ';'")
            self.skip_ws()
            value: str | None = None
            if self.peek() == "=":
                self.pos += 1
                self.skip_ws()
                if self.peek() == '"':
                    value = self.quoted()
                else:
                    value = self.take_while(_PTOKEN)
                    if not value:
                        raise self.error(f"attribute {name!r} has an empty value")
            attributes.setdefault(name, value)
            self.skip_ws()
        return Link(target, attributes)


def parse_link_format(text: str | bytes) -> tuple[Link, ...]:
    """Parse an RFC 6690 payload; an empty (or blank) payload gives no links."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CodecError(f"link format payload is not UTF-8: {exc}") from None
    scanner = _Scanner(text)
    links: list[Link] = []
    scanner.skip_ws()
    if not scanner.peek():
        return ()
    while True:
        scanner.skip_ws()
        links.append(scanner.link())
        scanner.skip_ws()
        if not scanner.peek():
            return tuple(links)
        scanner.expect(",")


SHARED_PAYLOAD = 2048
"""Registration payloads up to this length are parsed once and their links shared."""


@functools.lru_cache(maxsize=4096)
def _shared_links(text: str) -> tuple[Link, ...]:
    return parse_link_format(text)


def registered_links(text: str) -> tuple[Link, ...]:
    """parse_link_format for registration payloads: a fleet's devices send a handful of
    distinct payloads, so equal (short) ones share one parsed, immutable tuple of links."""
    return _shared_links(text) if len(text) <= SHARED_PAYLOAD else parse_link_format(text)


def format_attribute_value(name: str, value: str) -> str:
    """A link attribute's value as written in link format (quoted where it must be)."""
    if name not in _ALWAYS_QUOTED and value and all(c in _PTOKEN for c in value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def format_link_format(links: Iterable[Link]) -> str:
    """Serialize links, quoting values that need it (always rt, if and friends; never numbers)."""
    parts: list[str] = []
    for link in links:
        text = f"<{link.target}>"
        for name, value in link.attributes.items():
            text += f";{name}" if value is None else f";{name}=" + format_attribute_value(
                name, value
            )
        parts.append(text)
    return ",".join(parts)
