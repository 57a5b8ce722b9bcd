"""Reading a file a user names, as hostile input: inside the project, regular, bounded.

A path that leaves the project (`../x`, an absolute path, a symlink that points out) could
make the program read, and upload as a "certificate", any file on the machine; a device or
a FIFO would read forever or hang. Each refusal says why, so the message can say the fix.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class FileRefused(ValueError):
    """The file cannot be read as asked; the message completes "<the file> ..."."""


def inside_project(entry: str, project_dir: Path) -> Path:
    """The real path of `entry` (relative to the project), if it stays inside the project."""
    if "\x00" in entry:
        raise FileRefused("contains a NUL character, which no file name can")
    if Path(entry).is_absolute():
        raise FileRefused("is an absolute path; paths are relative to the project directory")
    root = project_dir.resolve()
    try:
        path = (root / entry).resolve()
    except RuntimeError:  # Python 3.11 and 3.12 say so for a loop; later ones leave it to open()
        raise FileRefused("is a symlink loop (a link that leads back to itself)") from None
    if path != root and root not in path.parents:
        raise FileRefused(f"resolves to {path}, outside the project directory {root}")
    return path


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; never waits on a FIFO or device."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise
    except OSError as error:
        raise FileRefused(f"cannot be read ({error.strerror or error})") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        kind = "a directory" if stat.S_ISDIR(mode) else "a device, FIFO or socket"
        raise FileRefused(f"is {kind}, not a regular file")
    with os.fdopen(descriptor, "rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise FileRefused(f"is larger than {limit} bytes")
    return data
