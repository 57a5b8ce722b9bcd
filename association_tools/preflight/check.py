"""Check one stack as `pulumi up` would meet it, and every stack, each on its own.

In order: read the stack file as the CLI does, apply `Pulumi.yaml`, run the program's own
settings checks, then run the real `__main__.py` under the mock engine in preview mode.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Final

from association.certificates import (
    Certificate,
    CertificateError,
    load_certificate,
    validity_problems,
)
from association.component_args import (
    CERTIFICATES_KEY,
    NIL_GUID,
    OWNERS_KEY,
    AssociationArgs,
    is_guid,
)
from association.exchange import (
    ALLOW_AFTER_SHUTDOWN_KEY,
    EWS_KINDS,
    SCOPE_KEY,
    ews_notices,
    exchange_commands,
)
from association.files import inside_project
from association.identifiers import TENANT_KEY
from association.problems import Notice, Problem
from association.redaction import visible
from association.settings import SettingsError, read_settings
from association_tools.offline import ProgramRun, run_program
from association_tools.preflight.plan import (
    STAND_IN_TENANT,
    deployer_unknown,
    offline_directory,
    plan_of,
    stand_in,
    stand_in_masks,
)
from association_tools.preflight.report import Basis, CertificateReport, Plan, StackReport
from association_tools.project import STACK_NAME, Project, one_line, read_yaml
from association_tools.stack_files import (
    StackConfig,
    StackFileError,
    parse_stack_file,
    stack_config,
)

OWNERS_NOTE: Final = (
    f"{OWNERS_KEY} is set, so the identity that runs `pulumi up` must be among the owners "
    "if it only holds Application.ReadWrite.OwnedBy. Its object ID is looked up when signed in, "
    "so the program checks this at deploy, not here."
)


def check_stack(
    project: Project,
    stack: str,
    now: datetime,
    require_owners: bool = False,
    deployer: str | None = None,
) -> StackReport:
    """Check one stack and work out its plan; nothing of another stack is seen or kept.

    `deployer`: the object ID of the identity that will run `pulumi up` in this tenant, when
    known; then a deployer missing from `owners` is an error, not a note.
    """
    path = project.stacks[stack]
    file = visible(path.relative_to(project.directory).as_posix())
    if not STACK_NAME.fullmatch(stack):
        problem = Problem(
            None,
            f"{file}: {visible(repr(stack))} is not a Pulumi stack name (at most 100 letters, "
            "digits, `-`, `_` or `.`). Rename the file to Pulumi.<stack>.yaml with a valid name.",
        )
        return StackReport(visible(stack), file, None, errors=(problem,))
    try:
        parsed = parse_stack_file(read_yaml(inside_project(file, project.directory)), file)
    except StackFileError as error:
        return StackReport(stack, file, None, errors=(Problem(None, str(error)),))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        problem = Problem(None, f"{file} cannot be read: {one_line(error)}.")
        return StackReport(stack, file, None, errors=(problem,))
    config = stack_config(project, stack, file, parsed.config)
    if require_owners and config.values.get(OWNERS_KEY, "[]") == "[]":
        config = replace(config, problems=(*config.problems, _owners_required(file)))
    loaded = [
        _load(entry, index, project.directory)
        for index, entry in enumerate(_certificate_entries(config.values))
    ]
    tenant = config.values.get(TENANT_KEY, "")
    allow = config.values.get(ALLOW_AFTER_SHUTDOWN_KEY) == "true"
    report = StackReport(
        stack,
        file,
        tenant if is_guid(tenant) else None,  # anything else is named, redacted, in an error
        errors=(*parsed.problems, *config.problems),
        # Every stack hears of EWS's end, whatever else is wrong with it.
        warnings=(*parsed.warnings, *ews_notices(now, allow)),
        certificates=tuple(CertificateReport.of(cert, now) for cert in loaded if cert is not None),
    )
    if parsed.problems or not config.faithful:
        return report
    try:
        args = read_settings(config.values, project.directory, now)
    except SettingsError as error:
        plan = None if config.problems else _replacement_plan(project, stack, config, loaded, now)
        return replace(report, errors=(*report.errors, *error.problems), plan=plan)
    if config.problems:
        return report
    owner_problems = _deployer_problems(args, deployer)
    run = _run(project, stack, config.values, now)
    if run.error is not None:
        return replace(
            report, errors=(*owner_problems, *(run.refusal or (Problem(None, run.error),)))
        )
    unknown_deployer = deployer is None and any(deployer_unknown(n) for n in run.notices)
    return replace(
        report,
        errors=owner_problems,
        warnings=(*report.warnings, *(n for n in run.notices if _shown(n))),
        notes=(*((OWNERS_NOTE,) if unknown_deployer else ()), *_scope_notes(args)),
        plan=plan_of(run, "configuration", "What pulumi up would declare and export."),
        exchange_online=exchange_commands(
            CLIENT_ID_AT_DEPLOY,
            args.adopt.service_principal_object_id if args.adopt else SERVICE_PRINCIPAL_AT_DEPLOY,
            args.display_name,
            stack,
            args.mailbox_scope,
        ),
    )


CLIENT_ID_AT_DEPLOY: Final = "<clientId: pulumi stack output clientId>"
SERVICE_PRINCIPAL_AT_DEPLOY: Final = (
    "<servicePrincipalObjectId: pulumi stack output servicePrincipalObjectId>"
)


def _shown(notice: Notice) -> bool:
    """The run's notices, less EWS's (already there) and the owners one (a note offline)."""
    return notice.kind not in EWS_KINDS and not deployer_unknown(notice)


def _deployer_problems(args: AssociationArgs, deployer: str | None) -> tuple[Problem, ...]:
    owners = [owner.lower() for owner in args.owners or ()]
    if deployer is None or not owners or deployer.lower() in owners:
        return ()
    return (
        Problem(
            OWNERS_KEY,
            f"The deploying identity {deployer} (--deployer) is not among {OWNERS_KEY}. With "
            "Application.ReadWrite.OwnedBy the first `pulumi up` fails at the certificate step: "
            "the provider removes the caller from the owners at the end of creating the "
            "application, and only an owner may add its key credential. Add it to owners.",
        ),
    )


def _scope_notes(args: AssociationArgs) -> tuple[str, ...]:
    if args.mailbox_scope is None or not args.mailbox_scope.enforce:
        return ()
    return (
        f"{SCOPE_KEY}.enforce is true: pulumi up grants nothing tenant-wide. In this order: run "
        "exchangeOnline.scope, check that exchangeOnline.scopeCheck shows InScope True, then "
        "deploy; otherwise Mimecast loses access to every mailbox.",
    )


def _owners_required(file: str) -> Problem:
    return Problem(
        OWNERS_KEY,
        f"{OWNERS_KEY} is not set in {file}, so the owners would be whoever runs pulumi: a "
        "pipeline that previews as one identity and deploys as another would report drift "
        "every night. List the owners' object IDs, the deploying pipeline identity's in this "
        "tenant among them.",
    )


def _certificate_entries(config: Mapping[str, str]) -> list[str]:
    try:
        entries = json.loads(config.get(CERTIFICATES_KEY, "[]"))
    except json.JSONDecodeError:
        return []
    if isinstance(entries, list) and all(isinstance(entry, str) for entry in entries):
        return entries
    return []


def _load(entry: str, index: int, directory: Path) -> Certificate | None:
    try:
        return load_certificate(entry, f"{CERTIFICATES_KEY}[{index}]", directory)
    except CertificateError:
        return None  # read_settings reports it, with the fix


def _run(project: Project, stack: str, config: Mapping[str, str], now: datetime) -> ProgramRun:
    """The real program in preview mode; a crash is this stack's error, not the command's."""
    directory = offline_directory(config.get(TENANT_KEY, ""))
    try:
        return run_program(project.program, stack, config, directory, preview=True, now=now)
    except Exception as error:  # the program is code under review: report it, go on
        return ProgramRun(error=f"The program failed: {type(error).__name__}: {error}")


def _replacement_plan(
    project: Project,
    stack: str,
    config: StackConfig,
    loaded: Sequence[Certificate | None],
    now: datetime,
) -> Plan | None:
    """The plan once refused certificates (and a placeholder tenant) are replaced, when nothing
    else stands in the way.

    Each refused certificate is swapped for a throwaway one valid at `now`, and the nil-GUID
    placeholder for a stand-in tenant ID, so that the real program runs; every value derived
    from a stand-in is then shown as coming from the replacement, never as itself.
    """
    refused = [
        index for index, cert in enumerate(loaded) if cert is None or validity_problems(cert, now)
    ]
    placeholder = config.values.get(TENANT_KEY) == NIL_GUID
    if not refused and not placeholder:
        return None
    stand_ins = {index: stand_in(index, now) for index in refused}
    entries = [
        stand_ins[index].pem if index in stand_ins else entry
        for index, entry in enumerate(_certificate_entries(config.values))
    ]
    candidate = {**config.values, CERTIFICATES_KEY: json.dumps(entries)}
    if placeholder:
        candidate[TENANT_KEY] = STAND_IN_TENANT
    try:
        read_settings(candidate, project.directory, now)
    except SettingsError:
        return None
    run = _run(project, stack, candidate, now)
    if run.error is not None:
        return None
    names = [f"certificates[{index}]" for index in refused]
    replaced = " and ".join(names) + (" is" if len(names) == 1 else " are") + " replaced"
    if placeholder:
        replaced = " and ".join(
            filter(None, [replaced if names else "", "azuread:tenantId is set"])
        )
    description = (
        f"As configured, pulumi up declares nothing. Once {replaced}, it would declare and "
        "export this; values marked as from the replacement come from it."
    )
    basis: Basis = "replacementCertificates" if refused else "replacementTenant"
    return plan_of(run, basis, description, stand_in_masks(stand_ins, placeholder))
