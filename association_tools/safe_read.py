"""Reading an input file a user names, as hostile input: regular, bounded, shallow JSON.

The tools read files that other programs wrote (a preview, stack outputs) and that anyone with
write access to a pipeline's workspace could replace: a FIFO or a device would hang the run, a
huge file would exhaust memory, and a JSON document nested ten thousand deep would end the
interpreter in a RecursionError. Each refusal is one `InputError` naming the file and why, so a
command reports that input as failed and goes on with the others. Standard library only.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from pathlib import Path
from typing import Any, Final

from association import files

DEFAULT_MAX_BYTES: Final = 32 * 1024 * 1024
"""Far above any preview or stack output of this project (a preview of one stack is ~40 KB)."""

DEFAULT_MAX_DEPTH: Final = 64
"""Nesting of arrays and objects; Pulumi's documents stay below 20."""

_ESCAPE: Final = re.compile(r"\\.", re.DOTALL)
"""A backslash and the character it escapes: removed first, so no quote left is escaped."""

_STRING_OR_SCALAR: Final = re.compile(r'"[^"]*"|[^"\[\]{}]+')
"""With escapes gone, a string is a quote to the next quote: no backtracking, so linear."""


class InputError(ValueError):
    """An input that cannot be used; the message names it and says why."""


def read_bounded(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of `path` if it is (or a symlink resolves to) a regular file of at most
    `max_bytes`; never blocks on a FIFO or device (`association.files.read_bounded`)."""
    try:
        real = path.resolve(strict=True)
        return files.read_bounded(real, max_bytes)
    except FileNotFoundError:
        raise InputError(f"{path} does not exist") from None
    except RuntimeError:  # a symlink loop, on Python 3.11
        raise InputError(f"{path} is a symlink loop") from None
    except files.FileRefused as refused:
        target = f" (resolves to {real})" if real != path.absolute() else ""
        raise InputError(f"{path}{target} {refused}") from None
    except OSError as error:
        raise InputError(f"{path} cannot be read: {error.strerror or error}") from None


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in `text` (0 for a scalar), without parsing it.

    Linear in the length of `text`, whatever it holds: escapes are dropped, then strings and
    scalars, and the brackets left are counted (a regex that skipped escaped quotes inside
    strings took quadratic time on `"\\"\\"\\"...`, 8 s for 64 KB)."""
    brackets = _STRING_OR_SCALAR.sub("", _ESCAPE.sub("", text))
    steps = (1 if bracket in "[{" else -1 for bracket in brackets if bracket in "[]{}")
    return max(accumulate(steps, initial=0))


def load_json(data: bytes, source: str, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse a JSON document (UTF-8 with or without BOM, UTF-16 or UTF-32, as `json` detects
    it), refusing one nested deeper than `max_depth` before the parser recurses into it."""
    try:
        text = data.decode(json.detect_encoding(data))
    except UnicodeDecodeError as error:
        raise InputError(f"{source} is not valid JSON: {error}") from None
    if json_depth(text) > max_depth:
        raise InputError(
            f"{source} nests arrays or objects more than {max_depth} deep, which no document "
            "this tool reads does"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{source} is not valid JSON: {error}") from None


def read_json(
    path: Path, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> Any:
    """`read_bounded` then `load_json`: one call for a JSON input file."""
    return load_json(read_bounded(path, max_bytes), str(path), max_depth)
