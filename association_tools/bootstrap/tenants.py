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
from dataclasses import dataclass, field
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
    where: str = field(default="", compare=False)
    """`<file>:<line>`, for messages."""


class TenantsError(InputError):
    """The tenants file cannot be used: every problem, each on its own."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


def read_tenants(
    path: Path, project_dir: Path, default_certificates: Sequence[str]
) -> list[TenantEntry]:
    """Every entry of the file; TenantsError naming each problem, or InputError when the file
    cannot be read at all."""
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
    default, refused = load_certificates(list(default_certificates), "--certificate", project_dir)
    problems += [problem.message for problem in refused]
    yaml_file = path.suffix.lower() in (".yaml", ".yml")
    rows = _yaml_rows(text, name, problems) if yaml_file else _csv_rows(text, name, problems)
    if len(rows) > MAX_TENANTS:
        raise InputError(f"{name} lists {len(rows)} tenants; at most {MAX_TENANTS} a run")
    if yaml_file:
        problems += [
            f"{name}:{line}: {visible(str(field))!r} is not one of {', '.join(FIELDS)}"
            for line, row in rows
            for field in row
            if field not in FIELDS
        ]
    defaults = (tuple(default_certificates), frozenset(cert.thumbprint for cert in default))
    entries = [
        entry
        for line, row in rows
        if (entry := _entry(row, f"{name}:{line}", project_dir, defaults, problems))
    ]
    _no_twins(entries, problems)
    if not rows and not problems:
        problems.append(f"{name} lists no tenant")
    if problems:
        raise TenantsError(problems)
    return entries


def _csv_rows(text: str, name: str, problems: list[str]) -> list[tuple[int, Mapping[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text), strict=True)
    rows: list[tuple[int, Mapping[str, Any]]] = []
    try:
        header = reader.fieldnames or []
        problems += [
            f"{name}:1: column {visible(str(field))!r} is not one of {', '.join(FIELDS)}"
            for field in dict.fromkeys(header)
            if field not in FIELDS
        ]
        problems += [
            f"{name}:1: column {visible(str(field))!r} is there twice"
            for field in dict.fromkeys(header)
            if header.count(field) > 1
        ]
        for row in reader:
            if None in row:  # more fields than the header names
                problems.append(f"{name}:{reader.line_num}: more fields than the header names")
            elif any((value or "").strip() for value in row.values()):
                rows.append((reader.line_num, row))
    except csv.Error as error:
        raise InputError(f"{name}:{reader.line_num}: not valid CSV: {error}") from None
    return rows


def _yaml_rows(text: str, name: str, problems: list[str]) -> list[tuple[int, Mapping[str, Any]]]:
    try:
        check_plain_yaml(text)
        root = yaml.compose(text, Loader=GoYaml)
        document = yaml.load(text, Loader=GoYaml)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f":{mark.line + 1}" if mark else ""
        raise InputError(
            f"{name}{where}: not valid YAML: {error.problem or error.context}"
        ) from None
    except (yaml.YAMLError, ValueError) as error:
        shown = visible(str(error)).replace("Pulumi config holds", "the tenants file holds")
        raise InputError(f"{name} is not usable YAML: {shown}") from None
    if isinstance(document, Mapping) and set(document) == {"tenants"}:
        document = document["tenants"]
        root = root.value[0][1] if isinstance(root, yaml.MappingNode) else root
    if not isinstance(document, list):
        raise InputError(f"{name} must be a list of tenants (maps of {', '.join(FIELDS)})")
    lines = [node.start_mark.line + 1 for node in getattr(root, "value", [])]
    rows: list[tuple[int, Mapping[str, Any]]] = []
    for line, item in zip(lines, document, strict=True):
        if isinstance(item, Mapping):
            rows.append((line, item))
        else:
            problems.append(f"{name}:{line}: not a tenant (a map of {', '.join(FIELDS)})")
    return rows


def _entry(
    row: Mapping[str, Any],
    where: str,
    project_dir: Path,
    defaults: tuple[tuple[str, ...], frozenset[str]],
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
    certificates = _certificates(row.get("certificate"))
    thumbprints = defaults[1]
    if certificates:  # its own: read here; the defaults were read once
        loaded, refused = load_certificates(
            list(certificates), f"{where}: certificate", project_dir
        )
        problems += [problem.message for problem in refused]
        thumbprints = frozenset(cert.thumbprint for cert in loaded)
    elif not defaults[0]:
        problems.append(f"{where}: no certificate: give one in the file or --certificate")
    exchange = _text(row.get("exchange")).lower()
    if exchange not in ("", "manage", "true", "false"):
        problems.append(f"{where}: exchange {quoted(exchange)} is not `manage` or empty")
    if len(problems) > found:
        return None
    return TenantEntry(
        stack,
        tenant,
        certificates or defaults[0],
        thumbprints,
        exchange in ("manage", "true"),
        where,
    )


def _text(value: object) -> str:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value).strip()


def _certificates(value: object) -> tuple[str, ...]:
    given = [_text(item) for item in value] if isinstance(value, list) else _text(value).split(";")
    return tuple(entry.strip() for entry in given if entry.strip())


def _no_twins(entries: Sequence[TenantEntry], problems: list[str]) -> None:
    """One stack per tenant and one tenant per stack, as the pipelines assume."""
    stacks: dict[str, TenantEntry] = {}
    tenants: dict[str, TenantEntry] = {}
    for entry in entries:
        first = stacks.setdefault(entry.stack.lower(), entry)
        if first is not entry:
            problems.append(f"{entry.where}: stack {entry.stack} is listed already ({first.where})")
        first = tenants.setdefault(entry.tenant_id, entry)
        if first is not entry:
            problems.append(
                f"{entry.where}: tenant {entry.tenant_id} is listed already for {first.stack} "
                f"({first.where}): one stack manages one tenant"
            )
