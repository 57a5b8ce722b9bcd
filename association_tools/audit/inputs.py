"""What each stack declares, from its stack file (read as preflight reads it) and its outputs.

The audit needs no Pulumi CLI: the stack file gives the tenant, display name, certificates,
owners, adoption and mailbox scope; `pulumi stack output --json`, saved to a file, gives the
object IDs to look up. Every ID that goes into a Graph URL is checked to be a GUID first, so a
hostile outputs file cannot steer the requests.

Read leniently, because a security audit must not go blind when a stack would not deploy today
(an expired certificate, EWS's shutdown): each setting goes through the program's own parser,
what the program would refuse becomes a note on the stack's result, and only what leaves
nothing to compare against (no tenant ID, an unreadable file, an audited setting stored
encrypted) is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from association.adoption import Adoption
from association.component_args import AssociationArgs, settings_key
from association.identifiers import TENANT_KEY, is_guid
from association.problems import Notice, Problem
from association.redaction import holds_key_material
from association.settings import check_settings, parse_settings
from association_tools.project import Project, one_line
from association_tools.safe_read import InputError, read_bounded, read_json
from association_tools.stack_files import StackFile, StackFileError, parse_stack_file, stack_config

OUTPUT_KEYS: Final = {
    "client_id": "clientId",
    "application_object_id": "applicationObjectId",
    "service_principal_object_id": "servicePrincipalObjectId",
    "tenant_id": "tenantId",
}
"""The stack outputs the audit needs (`pulumi stack output --json` names)."""

DISPLAY_NAME_KEY: Final = settings_key("displayName")
ADOPT_KEY: Final = settings_key("adopt")
OWNERS_KEY: Final = settings_key("owners")
AUDITED_KEYS: Final = frozenset(
    {
        TENANT_KEY,
        DISPLAY_NAME_KEY,
        ADOPT_KEY,
        OWNERS_KEY,
        *map(settings_key, ("certificates", "mailboxScope")),
    }
)
"""The settings the audit reads; stored encrypted, one leaves it nothing to compare against."""


OWNERS_OUTPUT: Final = "owners"
"""The owners the last `pulumi up` set (the deployer when `owners` is unset); older deploys
have no such output."""


@dataclass(frozen=True)
class StackOutputs:
    client_id: str
    application_object_id: str
    service_principal_object_id: str
    tenant_id: str
    owners: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Declared:
    """What one stack says the tenant should hold."""

    stack: str
    tenant_id: str
    display_name: str
    thumbprints: tuple[str, ...]
    """Upper-case hex SHA-1 of each configured certificate that loads, expired or not."""
    owners: tuple[str, ...] | None
    """Lower-case object IDs; None when `owners` is unset (the deploying identity owns it)."""
    outputs: StackOutputs
    deployed_owners: tuple[str, ...] | None = None
    """The stack output `owners`: whom the last deploy made owner, the deployer included."""
    tenant_wide_consent: bool = True
    """False with `mailboxScope.enforce`: then the program requests no permission and grants
    no app role, so any of either in the tenant is undeclared."""
    notes: tuple[Notice, ...] = ()
    """Why the program would refuse these settings today, and other caveats: shown with the
    findings, never a reason not to compare."""
    hand_made: Mapping[str, str] = field(default_factory=dict)
    """`adopt.keyIds`: the key credentials made by hand (thumbprint -> keyId), declared as
    there to be removed once Mimecast uses the stack's certificate."""
    mailbox_group: str | None = None
    """`mailboxScope.group`: the Exchange side then holds the scope and its assignment."""
    exchange_manage: bool = False
    """`exchange.manage`, parsed as the program parses it (leniently: a wrong value is a
    note and `manage: false`): pulumi up makes the Exchange side, else the admin pastes it.
    Only the wording of the Exchange findings depends on it, so it is not among
    `AUDITED_KEYS`."""


def parse_outputs(document: Any, source: str) -> StackOutputs:
    """The IDs from `pulumi stack output --json`; InputError naming what is missing or wrong."""
    if not isinstance(document, dict):
        raise InputError(f"{source} is not the JSON object `pulumi stack output --json` prints")
    values = {}
    for attribute, key in OUTPUT_KEYS.items():
        value = document.get(key)
        if not isinstance(value, str) or not is_guid(value):
            raise InputError(
                f"{source}: output {key} is missing or not a GUID; save the outputs with "
                "`pulumi stack output --json --stack STACK > FILE` after `pulumi up`"
            )
        values[attribute] = value.lower()
    owners = document.get(OWNERS_OUTPUT)
    if owners is not None and (
        not isinstance(owners, list)
        or not all(isinstance(owner, str) and is_guid(owner) for owner in owners)
    ):
        raise InputError(
            f"{source}: output {OWNERS_OUTPUT} is not a list of object IDs (GUIDs); save the "
            "outputs with `pulumi stack output --json --stack STACK > FILE` after `pulumi up`"
        )
    return StackOutputs(
        **values, owners=None if owners is None else tuple(owner.lower() for owner in owners)
    )


def declared(
    project: Project,
    stack: str,
    outputs_file: Path,
    now: datetime,
    max_bytes: int,
) -> Declared:
    """Read one stack's file and outputs; InputError only when there is nothing to compare."""
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
    # Leniently: an expired certificate is kept, whatever does not parse is left out and named.
    settings, unparsed = parse_settings(config.values, project.directory)
    problems = [*parsed.problems, *config.problems, *check_settings(settings, unparsed, now)]
    blocked = _blocking_keys(parsed, settings)
    if blocked:
        reasons = [_note(problem).message for problem in problems if problem.setting in blocked]
        listed = "; ".join(reasons or [f"{', '.join(sorted(blocked))} cannot be read"])
        raise InputError(f"{file} cannot be audited: {listed}")
    if settings.tenant_id.lower() != outputs.tenant_id:
        raise InputError(
            f"{outputs_file} is for tenant {outputs.tenant_id}, but {file} manages "
            f"{settings.tenant_id}: give this stack's own outputs"
        )
    owners = settings.owners
    return Declared(
        stack=stack,
        tenant_id=outputs.tenant_id,
        display_name=settings.display_name,
        thumbprints=tuple(cert.thumbprint for cert in settings.certificates),
        hand_made=dict(settings.adopt.key_ids) if settings.adopt else {},
        owners=tuple(owner.lower() for owner in owners) if owners else None,
        outputs=outputs,
        deployed_owners=outputs.owners,
        tenant_wide_consent=settings.consent_declared,
        mailbox_group=settings.mailbox_scope.group if settings.mailbox_scope else None,
        exchange_manage=settings.exchange.manage,
        notes=(
            *(_note(problem, "would not deploy: ") for problem in problems),
            *(_note(notice) for notice in parsed.warnings),
            *_adoption_notes(settings.adopt, outputs),
            *_owner_notes(bool(owners), outputs),
        ),
    )


def _blocking_keys(parsed: StackFile, settings: AssociationArgs) -> set[str]:
    """The settings that leave the audit nothing to compare against: no tenant ID, an audited
    setting stored encrypted, or a display name holding a key (it would go into a Graph URL)."""
    keys = {key for key in AUDITED_KEYS if (value := parsed.config.get(key)) and value.secure}
    if not is_guid(settings.tenant_id):
        keys.add(TENANT_KEY)
    if holds_key_material(settings.display_name):
        keys.add(DISPLAY_NAME_KEY)
    return keys


def _adoption_notes(adopt: Adoption | None, outputs: StackOutputs) -> list[Notice]:
    """`adopt` naming other objects than the outputs do: the audit reads the outputs' ones."""
    if adopt is None:
        return []
    pairs = (
        ("applicationObjectId", adopt.application_object_id, outputs.application_object_id),
        (
            "servicePrincipalObjectId",
            adopt.service_principal_object_id,
            outputs.service_principal_object_id,
        ),
    )
    return [
        Notice(
            "adopt-not-the-outputs",
            f"{ADOPT_KEY}.{name}",
            f"{ADOPT_KEY}.{name} is {adopted}, but the outputs name {actual}; the audit reads "
            "the object the outputs name",
        )
        for name, adopted, actual in pairs
        if adopted != actual
    ]


def _owner_notes(owners_set: bool, outputs: StackOutputs) -> list[Notice]:
    """Without `owners` and the output, a replaced sole owner looks like the deployer."""
    if owners_set or outputs.owners is not None:
        return []
    return [
        Notice(
            "owners-not-exported",
            OWNERS_KEY,
            f"{OWNERS_KEY} is unset and the outputs have no {OWNERS_OUTPUT} (deployed before it "
            "was exported): a sole owner replaced by someone else cannot be told from the "
            f"deployer until `pulumi up` exports {OWNERS_OUTPUT}",
        )
    ]


def _note(item: Problem | Notice, prefix: str = "") -> Notice:
    """A problem or notice as one of the audit's notes, on one line, its code kept."""
    return Notice(item.code, item.setting, prefix + " ".join(item.message.split()))


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
