"""The one serializer for the tools' JSON documents: dataclasses become camelCase objects.

Standard library only. A dataclass becomes an object of its fields, in declaration order,
with names in camelCase, followed by the properties it names in `JSON_PROPERTIES`. An object
with a `json_value()` method is replaced by what that returns (e.g. a marker's object, or a
problem's message).
"""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Final


def camel(name: str) -> str:
    """`days_left` -> `daysLeft`."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def to_json(value: Any) -> Any:
    """Plain JSON values (dict, list, str, int, float, bool, None) for `value`."""
    json_value = getattr(value, "json_value", None)
    if callable(json_value):
        return to_json(json_value())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = [field.name for field in dataclasses.fields(value)]
        names += getattr(value, "JSON_PROPERTIES", ())
        return {camel(name): to_json(getattr(value, name)) for name in names}
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    return value


def dumps(value: Any) -> str:
    """A document as the tools write it: indented, readable UTF-8, and safe on a terminal.

    JSON escapes C0 controls itself; C1 controls (e.g. U+009B, a terminal's CSI), format and
    line-separator characters are valid raw in a string, so they are written as \\uXXXX too.
    """
    text = json.dumps(to_json(value), indent=2, ensure_ascii=False)
    return _UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


_UNSAFE: Final = re.compile(
    "["
    + "".join(
        re.escape(chr(code))
        for code in (*range(0x7F, 0x10000), *range(0xE0000, 0xE0080))
        if unicodedata.category(chr(code)) in {"Cc", "Cf", "Zl", "Zp"}
    )
    + "]"
)
