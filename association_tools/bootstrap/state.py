"""The bootstrap's record of each tenant's progress, so a stopped run resumes where it ended.

One JSON file (`--state`, default `bootstrap-state.json` in the project): per stack, its tenant,
its status and the line the run printed, rewritten whole after every tenant (a temporary file,
then `os.replace`, so a run killed mid-write leaves the previous record). `--resume` skips the
stacks the record says are ready, for the same tenant, whose stack file is still there; every
other one is done again, which changes nothing that is already in place.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from association_tools.safe_read import InputError, read_json

VERSION: Final = 1
MAX_BYTES: Final = 16 * 1024 * 1024


@dataclass(frozen=True)
class Record:
    stack: str
    tenantId: str  # the JSON field's own name
    status: str
    detail: str


class State:
    """The record, as read at the start and kept up to date."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._records: dict[str, Record] = {}
        if path.exists():
            self._records = _read(path)

    def ready(self, stack: str, tenant_id: str) -> Record | None:
        """The record of a stack done before, for this tenant, or None."""
        record = self._records.get(stack)
        if record is None or record.status != "ready" or record.tenantId != tenant_id:
            return None
        return record

    def keep(self, record: Record) -> None:
        with self._lock:
            self._records[record.stack] = record
            document = {
                "version": VERSION,
                "tenants": {stack: asdict(r) for stack, r in sorted(self._records.items())},
            }
            partial = self.path.with_name(self.path.name + ".partial")
            partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
            os.replace(partial, self.path)


def _read(path: Path) -> dict[str, Record]:
    document: Any = read_json(path, MAX_BYTES)
    if not isinstance(document, dict):
        document = {}
    tenants = document.get("tenants")
    if document.get("version") != VERSION or not isinstance(tenants, dict):
        raise InputError(f"{path} is no bootstrap state of version {VERSION}: move it away")
    records = {}
    for stack, item in tenants.items():
        fields = item if isinstance(item, dict) else {}
        values = [fields.get(name) for name in ("stack", "tenantId", "status", "detail")]
        texts = [value for value in values if isinstance(value, str)]
        if len(texts) != len(values) or texts[0] != stack:
            raise InputError(f"{path}: the record of {stack!r} is not one the bootstrap wrote")
        records[stack] = Record(*texts)
    return records
