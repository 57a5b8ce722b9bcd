"""The JSON shapes the docs sketch, read so that a test can hold real output to them.

The notation (docs/preflight.md): `{"a": T, "b", "c"?}` an object with exactly these keys
(`"b"` of any type, `"c"` optional), `{...}` any object, `[T]` a list of T, `T | U` either,
`int`, `str`, `bool`, `null`, a quoted word that exact string, and `(...)` a comment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r'\s*(?:(\([^()]*\))|("[^"]*")|(\.\.\.|[{}\[\],:|?])|(\w+))')


@dataclass(frozen=True)
class Shape:
    kind: str
    """object, any-object, list, either, type, literal or any."""
    members: tuple[tuple[str, bool, Shape | None], ...] = ()
    """An object's keys: name, whether optional, its shape (None: any)."""
    items: tuple[Shape, ...] = ()
    """A list's item shape, or the alternatives of `either`."""
    name: str = ""
    """A type's or a literal's."""


def parse(text: str) -> Shape:
    tokens = [
        next(group for group in match.groups()[1:] if group)
        for match in _TOKEN.finditer(text)
        if not match.group(1) and match.group().strip()
    ]
    shape, rest = _value(tokens)
    assert not rest, f"left over: {rest[:5]}"
    return shape


def _value(tokens: list[str]) -> tuple[Shape, list[str]]:
    first, tokens = _one(tokens)
    alternatives = [first]
    while tokens and tokens[0] == "|":
        other, tokens = _one(tokens[1:])
        alternatives.append(other)
    return (first if len(alternatives) == 1 else Shape("either", items=tuple(alternatives))), tokens


def _one(tokens: list[str]) -> tuple[Shape, list[str]]:
    head, tokens = tokens[0], tokens[1:]
    if head == "{" and tokens[0] == "...":
        assert tokens[1] == "}"
        return Shape("any-object"), tokens[2:]
    if head == "{":
        members = []
        while tokens[0] != "}":
            name, tokens = tokens[0].strip('"'), tokens[1:]
            optional = tokens[0] == "?"
            tokens = tokens[1:] if optional else tokens
            member: Shape | None = None
            if tokens[0] == ":":
                member, tokens = _value(tokens[1:])
            members.append((name, optional, member))
            tokens = tokens[1:] if tokens[0] == "," else tokens
        return Shape("object", members=tuple(members)), tokens[1:]
    if head == "[":
        item, tokens = _value(tokens)
        assert tokens[0] == "]"
        return Shape("list", items=(item,)), tokens[1:]
    if head.startswith('"'):
        return Shape("literal", name=head.strip('"')), tokens
    if head == "...":
        return Shape("any"), tokens
    assert head in ("int", "str", "bool", "null"), head
    return Shape("type", name=head), tokens


_TYPES: dict[str, Any] = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def mismatches(value: Any, shape: Shape, path: str = "$") -> list[str]:
    """Where `value` is not of `shape`, each as a path and what was found."""
    if shape.kind == "any":
        return []
    if shape.kind == "either":
        tried = [mismatches(value, item, path) for item in shape.items]
        return [] if any(not found for found in tried) else min(tried, key=len)
    if shape.kind == "type":
        return [] if _TYPES[shape.name](value) else [f"{path}: {value!r} is not {shape.name}"]
    if shape.kind == "literal":
        return [] if value == shape.name else [f"{path}: {value!r} is not {shape.name!r}"]
    if shape.kind == "list":
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        return [
            m
            for i, item in enumerate(value)
            for m in mismatches(item, shape.items[0], f"{path}[{i}]")
        ]
    if not isinstance(value, dict):
        return [f"{path}: not an object"]
    if shape.kind == "any-object":
        return []
    declared = {name for name, _, _ in shape.members}
    found = [f"{path}: {key!r} is not in the docs" for key in value if key not in declared]
    for name, optional, member in shape.members:
        if name not in value:
            found += [] if optional else [f"{path}: {name!r} is missing"]
        elif member is not None:
            found += mismatches(value[name], member, f"{path}.{name}")
    return found
