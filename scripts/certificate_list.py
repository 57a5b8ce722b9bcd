"""The `mimecast-association:certificates:` list of a stack file, edited line by line.

A stack file is written by `pulumi config set` (Go's yaml.v3 with a 2-space indent,
pulumi/pulumi sdk/go/common/util/yamlutil/encode.go `YamlEncode`: a block list indented under
its key) or by scripts/tenant.py (the same shape), and people add comments. Rewriting the
whole document would drop the comments and reorder keys; so only the list's own lines change:
an item line added after the last item, or an item's lines removed, or a one-line flow list
(`[a, b]`) written anew. Whatever the edit, the caller checks that the file parses to the same
document with only the list changed, and refuses otherwise. Stdlib only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

KEY: Final = "mimecast-association:certificates"
_KEY_LINE: Final = re.compile(rf"(?P<indent> +){re.escape(KEY)}:(?P<rest>[^\r\n]*)")
_ITEM: Final = re.compile(r"(?P<indent> *)- ")
PLAIN_ENTRY: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")
"""An entry this module writes: a relative path that YAML reads as the same plain string."""


class ShapeError(ValueError):
    """The list is written in a way this module does not edit; the message says how it is."""


@dataclass(frozen=True)
class CertificateList:
    """Where the list sits in the file's lines (each with its line ending)."""

    lines: list[str]
    key: int
    """Index of the key's line."""
    items: list[tuple[int, int]]
    """Each item's first line and the line after its last, for a block list; empty for flow."""
    flow: bool
    item_indent: str


def locate(text: str) -> CertificateList:
    """Find the one certificates list in `text`; ShapeError if it is not there or not plain."""
    lines = text.splitlines(keepends=True)
    keys = [i for i, line in enumerate(lines) if _KEY_LINE.fullmatch(line.rstrip("\r\n"))]
    if len(keys) != 1:
        raise ShapeError(
            "lists no certificates under config (it uses Pulumi.yaml's default)"
            if not keys
            else f"has {len(keys)} lines for {KEY}"
        )
    key = keys[0]
    match = _KEY_LINE.fullmatch(lines[key].rstrip("\r\n"))
    assert match is not None
    rest = match["rest"].split(" #")[0].strip()
    if rest.startswith("[") and rest.endswith("]"):
        return CertificateList(lines, key, [], True, "")
    if rest:
        raise ShapeError(f"writes {KEY} on one line in a form other than a [..] list")
    indent = len(match["indent"])
    items: list[tuple[int, int]] = []
    item_indent: str | None = None
    for index in range(key + 1, len(lines)):
        line = lines[index].rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        width = len(line) - len(line.lstrip(" "))
        item = _ITEM.match(line)
        if item and width >= indent and (item_indent is None or item["indent"] == item_indent):
            item_indent = item["indent"]
            items.append((index, index + 1))
        elif item_indent is not None and width > len(item_indent):
            items[-1] = (items[-1][0], index + 1)  # a continuation line of the last item
        else:
            break
    if not items or item_indent is None:
        raise ShapeError(f"has {KEY} without a list of entries")
    return CertificateList(lines, key, items, False, item_indent)


def with_entry(found: CertificateList, entries: list[str], entry: str) -> str:
    """The file with `entry` added after the last one."""
    if not PLAIN_ENTRY.fullmatch(entry):
        raise ShapeError(f"{entry!r} is not a plain relative path")
    lines = list(found.lines)
    if found.flow:
        return _flow(found, [*entries, entry])
    last = found.items[-1][1]
    ending = _ending(lines[last - 1])
    if not lines[last - 1].endswith(("\n", "\r")):
        lines[last - 1] += ending
    lines.insert(last, f"{found.item_indent}- {entry}{ending}")
    return "".join(lines)


def without_entries(found: CertificateList, entries: list[str], drop: set[int]) -> str:
    """The file without the entries at the indexes in `drop`."""
    if found.flow:
        return _flow(found, [e for i, e in enumerate(entries) if i not in drop])
    if len(found.items) != len(entries):
        raise ShapeError("has list items this edit cannot tell apart")
    gone = {line for i in drop for line in range(*found.items[i])}
    return "".join(line for index, line in enumerate(found.lines) if index not in gone)


def _flow(found: CertificateList, entries: list[str]) -> str:
    if not all(PLAIN_ENTRY.fullmatch(entry) for entry in entries):
        raise ShapeError(f"writes {KEY} as a [..] list with entries that are not plain paths")
    lines = list(found.lines)
    match = _KEY_LINE.fullmatch(lines[found.key].rstrip("\r\n"))
    assert match is not None
    comment = match["rest"].partition(" #")[2]
    tail = f"  #{comment}" if comment else ""
    lines[found.key] = (
        f"{match['indent']}{KEY}: [{', '.join(entries)}]{tail}{_ending(lines[found.key])}"
    )
    return "".join(lines)


def _ending(line: str) -> str:
    return "\r\n" if line.endswith("\r\n") else "\n"
