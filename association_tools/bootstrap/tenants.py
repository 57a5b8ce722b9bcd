"""The tenants file: which stacks to bootstrap, for which tenants, with which certificates.

CSV with a header (`stack,tenantId,certificate,exchange`) or YAML (a list of maps with those
keys, or `tenants:` holding one). `certificate` is a path inside the project, or several
separated by `;` (a YAML list too); empty: `--certificate`. `exchange` is `manage` (or
`true`) where the stack manages the Exchange side, else empty (or `false`).

Hostile input: read bounded from a regular file inside the project, YAML without aliases or
deep nesting, every value checked (each certificate loaded as the program loads it: a private
key is refused, never echoed), every problem reported at once with its line, escaped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from association.certificate_entries import load_certificates
from association.identifiers import NIL_GUID, is_guid
from association.text import quoted, visible
from association_tools.project import STACK_NAME, GoYaml, check_plain_yaml
from association_tools.safe_read import InputError, read_bounded

MAX_BYTES: Final = 4 * 1024 * 1024
MAX_TENANTS: Final = 5000
FIELDS: Final = ("stack", "tenantId", "certificate", "exchange")
RESERVED: Final = frozenset({"example"})
"""The shipped example stack: never bootstrapped over."""


@dataclass(frozen=True)
class TenantEntry:
    """One tenant to bootstrap, as the file gives it, checked."""

    stack: str
    tenant_id: str
    certificates: tuple[str, ...]
    thumbprints: frozenset[str]
    """Their SHA-1 thumbprints (upper-case hex): how a hand-made app's key credential is
    matched to Mimecast's certificate."""
    exchange: bool
    """The stack manages the Exchange side (`exchange.manage`)."""


def read_tenants(
    path: Path, project_dir: Path, default_certificates: Sequence[str]
) -> list[TenantEntry]:
    """Every entry of the file, or InputError naming each problem (line by line)."""
    name = visible(str(path))
    root = project_dir.resolve()
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):  # missing or a symlink loop: read_bounded names which
        read_bounded(path, MAX_BYTES)
        raise InputError(f"{name} cannot be read") from None
    if real != root and root not in real.parents:
        raise InputError(
            f"{name} resolves to {visible(str(real))}, outside the project directory {root}: "
            "keep the tenants file in the project"
        )
    data = read_bounded(path, MAX_BYTES)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{name} is not UTF-8 text") from None
    problems: list[str] = []
    yaml_file = path.suffix.lower() in (".yaml", ".yml")
    rows = _yaml_rows(text, name) if yaml_file else _csv_rows(text, name, problems)
    if len(rows) > MAX_TENANTS:
        raise InputError(f"{name} lists {len(rows)} tenants; at most {MAX_TENANTS} a run")
    if yaml_file:
        problems += [
            f"{name}:{line}: {visible(str(field))!r} is not one of {', '.join(FIELDS)}"
            for line, row in rows
            for field in row
            if field not in FIELDS
        ]
    entries = [
        entry
        for line, row in rows
        if (entry := _entry(row, f"{name}:{line}", project_dir, default_certificates, problems))
    ]
    _no_twins(entries, name, problems)
    if not rows and not problems:
        problems.append(f"{name} lists no tenant")
    if problems:
        raise InputError("\n".join(problems))
    return entries


def _csv_rows(text: str, name: str, problems: list[str]) -> list[tuple[int, Mapping[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text), strict=True)
    try:
        header = reader.fieldnames or []
        problems += [
            f"{name}:1: column {visible(str(field))!r} is not one of {', '.join(FIELDS)}"
            for field in header
            if field not in FIELDS
        ]
        return [
            (reader.line_num, row) for row in reader if any((v or "").strip() for v in row.values())
        ]
    except csv.Error as error:
        raise InputError(f"not valid CSV at line {reader.line_num}: {error}") from None


def _yaml_rows(text: str, name: str) -> list[tuple[int, Mapping[str, Any]]]:
    try:
        check_plain_yaml(text)
        root = yaml.compose(text, Loader=GoYaml)
        document = yaml.load(text, Loader=GoYaml)
    except (yaml.YAMLError, ValueError) as error:
        raise InputError(f"{name} is not usable YAML: {visible(str(error))}") from None
    if isinstance(document, Mapping) and set(document) == {"tenants"}:
        document = document["tenants"]
        root = root.value[0][1] if isinstance(root, yaml.MappingNode) else root
    if not isinstance(document, list) or not all(isinstance(i, Mapping) for i in document):
        raise InputError(f"{name} must be a list of tenants (maps of {', '.join(FIELDS)})")
    lines = [node.start_mark.line + 1 for node in getattr(root, "value", [])]
    return list(zip(lines, document, strict=True))


def _entry(
    row: Mapping[str, Any],
    where: str,
    project_dir: Path,
    default_certificates: Sequence[str],
    problems: list[str],
) -> TenantEntry | None:
    found = len(problems)
    stack = _text(row.get("stack"))
    if not STACK_NAME.fullmatch(stack) or stack in RESERVED:
        problems.append(
            f"{where}: stack {quoted(stack)} is no stack name to use: letters, digits, '-', '_' "
            "and '.', at most 100 (and not the shipped 'example')"
        )
    tenant = _text(row.get("tenantId")).lower()
    if not is_guid(tenant) or tenant == NIL_GUID:
        problems.append(
            f"{where}: tenantId {quoted(tenant)} is not a tenant ID (a GUID; Entra admin center > "
            "Overview > Tenant ID)"
        )
    certificates = _certificates(row.get("certificate"), default_certificates)
    if not certificates:
        problems.append(f"{where}: no certificate: give one in the file or --certificate")
    loaded, refused = load_certificates(list(certificates), f"{where}: certificate", project_dir)
    problems += [problem.message for problem in refused]
    exchange = _text(row.get("exchange")).lower()
    if exchange not in ("", "manage", "true", "false"):
        problems.append(f"{where}: exchange {quoted(exchange)} is not `manage` or empty")
    if len(problems) > found:
        return None
    thumbprints = frozenset(cert.thumbprint for cert in loaded)
    return TenantEntry(stack, tenant, certificates, thumbprints, exchange in ("manage", "true"))


def _text(value: object) -> str:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value).strip()


def _certificates(value: object, default: Sequence[str]) -> tuple[str, ...]:
    given = [_text(item) for item in value] if isinstance(value, list) else _text(value).split(";")
    listed = tuple(entry.strip() for entry in given if entry.strip())
    return listed or tuple(default)


def _no_twins(entries: Sequence[TenantEntry], name: str, problems: list[str]) -> None:
    """One stack per tenant and one tenant per stack, as the pipelines assume."""
    stacks: set[str] = set()
    tenants: dict[str, str] = {}
    for entry in entries:
        if entry.stack.lower() in stacks:
            problems.append(f"{name}: stack {entry.stack} is listed twice")
        stacks.add(entry.stack.lower())
        first = tenants.setdefault(entry.tenant_id, entry.stack)
        if first != entry.stack:
            problems.append(
                f"{name}: tenant {entry.tenant_id} is listed for {first} and {entry.stack}: "
                "one stack manages one tenant"
            )
