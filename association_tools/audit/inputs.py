"""What each stack declares, from its stack file (read as preflight reads it) and its outputs.

The audit needs no Pulumi CLI: the stack file gives the tenant, display name, certificates and
owners (through the program's own `read_settings`); `pulumi stack output --json`, saved to a
file, gives the object IDs to look up. Every ID that goes into a Graph URL is checked to be a
GUID first, so a hostile outputs file cannot steer the requests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from association.settings import SettingsError, read_settings
from association_tools.project import Project, one_line
from association_tools.safe_read import InputError, read_bounded, read_json
from association_tools.stack_files import StackFileError, parse_stack_file, stack_config

GUID: Final = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")

OUTPUT_KEYS: Final = {
    "client_id": "clientId",
    "application_object_id": "applicationObjectId",
    "service_principal_object_id": "servicePrincipalObjectId",
    "tenant_id": "tenantId",
}
"""The stack outputs the audit needs (`pulumi stack output --json` names)."""


@dataclass(frozen=True)
class StackOutputs:
    client_id: str
    application_object_id: str
    service_principal_object_id: str
    tenant_id: str


@dataclass(frozen=True)
class Declared:
    """What one stack says the tenant should hold."""

    stack: str
    tenant_id: str
    display_name: str
    thumbprints: tuple[str, ...]
    """Upper-case hex SHA-1 of each configured certificate."""
    owners: tuple[str, ...] | None
    """Lower-case object IDs; None when `owners` is unset (the deploying identity owns it)."""
    outputs: StackOutputs


def parse_outputs(document: Any, source: str) -> StackOutputs:
    """The IDs from `pulumi stack output --json`; InputError naming what is missing or wrong."""
    if not isinstance(document, dict):
        raise InputError(f"{source} is not the JSON object `pulumi stack output --json` prints")
    values = {}
    for field, key in OUTPUT_KEYS.items():
        value = document.get(key)
        if not isinstance(value, str) or not GUID.fullmatch(value):
            raise InputError(
                f"{source}: output {key} is missing or not a GUID; save the outputs with "
                "`pulumi stack output --json --stack STACK > FILE` after `pulumi up`"
            )
        values[field] = value.lower()
    return StackOutputs(**values)


def declared(
    project: Project,
    stack: str,
    outputs_file: Path,
    now: datetime,
    max_bytes: int,
) -> Declared:
    """Read one stack's file and outputs; InputError with every reason it cannot be audited."""
    outputs = parse_outputs(read_json(outputs_file, max_bytes), str(outputs_file))
    path = project.stacks[stack]
    file = path.relative_to(project.directory).as_posix()
    try:
        text = read_bounded(path, max_bytes).decode("utf-8")
        parsed = parse_stack_file(text, file)
    except UnicodeDecodeError as error:
        raise InputError(f"{file} is not UTF-8 text: {one_line(error)}") from None
    except StackFileError as error:
        raise InputError(str(error)) from None
    config = stack_config(project, stack, file, parsed.config)
    problems = [*parsed.problems, *(config.problems if not config.faithful else ())]
    settings = None
    if not problems:
        try:
            settings = read_settings(config.values, project.directory, now)
        except SettingsError as error:
            problems += error.problems
    if settings is None or problems:
        listed = "; ".join(" ".join(problem.message.split()) for problem in problems)
        raise InputError(f"{file} cannot be audited until its settings are fixed: {listed}")
    if settings.tenant_id.lower() != outputs.tenant_id:
        raise InputError(
            f"{outputs_file} is for tenant {outputs.tenant_id}, but {file} manages "
            f"{settings.tenant_id}: give this stack's own outputs"
        )
    return Declared(
        stack=stack,
        tenant_id=outputs.tenant_id,
        display_name=settings.display_name,
        thumbprints=tuple(cert.thumbprint for cert in settings.certificates),
        owners=tuple(owner.lower() for owner in settings.owners) if settings.owners else None,
        outputs=outputs,
    )


def outputs_arguments(pairs: list[str]) -> Mapping[str, Path]:
    """`STACK=FILE` arguments by stack; ValueError naming a malformed or repeated one."""
    files: dict[str, Path] = {}
    for pair in pairs:
        stack, sep, file = pair.partition("=")
        if not sep or not stack or not file:
            raise ValueError(f"--outputs {pair!r} is not STACK=FILE")
        if stack in files:
            raise ValueError(f"--outputs names stack {stack!r} twice")
        files[stack] = Path(file)
    return files
