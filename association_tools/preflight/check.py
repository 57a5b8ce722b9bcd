"""Check one stack as `pulumi up` would meet it: nothing of another stack is seen or kept.

In order: read the stack file as the CLI does, apply `Pulumi.yaml`, parse and check the settings
exactly as the program does (`association.settings`, certificates loaded once), then run the
real `__main__.py` under the mock engine in preview mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Final

from association.adoption_checks import adoption_notes
from association.component_args import AssociationArgs, settings_key
from association.exchange_commands import exchange_commands
from association.files import inside_project
from association.identifiers import TENANT_KEY, is_guid
from association.problems import Notice, Problem
from association.settings import check_settings, parse_settings
from association.text import visible
from association_tools.offline import ProgramRun, run_program
from association_tools.preflight.plan import (
    CREATED_AT_DEPLOY,
    READ_AT_DEPLOY,
    deployer_unknown,
    offline_directory,
    plan_of,
)
from association_tools.preflight.replacement import replacement_plan
from association_tools.preflight.report import CertificateReport, StackReport
from association_tools.project import STACK_NAME, Project, one_line, read_yaml
from association_tools.stack_files import StackFileError, parse_stack_file, stack_config

OWNERS_KEY: Final = settings_key("owners")
SCOPE_KEY: Final = settings_key("mailboxScope")
ADOPT_KEY: Final = settings_key("adopt")
OWNERS_NOTE: Final = Notice(
    "deployer-checked-at-deploy",
    OWNERS_KEY,
    f"{OWNERS_KEY} is set, so the identity that runs `pulumi up` must be among the owners "
    "if it only holds Application.ReadWrite.OwnedBy. Its object ID is looked up when signed in, "
    "so the program checks this at deploy, not here.",
)


def check_stack(
    project: Project,
    stack: str,
    now: datetime,
    require_owners: bool = False,
    deployer: str | None = None,
) -> StackReport:
    """Check one stack and work out its plan.

    `deployer`: the object ID of the identity that will run `pulumi up` in this tenant, when
    known; then a deployer missing from `owners` is an error, not a note.
    """
    path = project.stacks[stack]
    file = visible(path.relative_to(project.directory).as_posix())
    if not STACK_NAME.fullmatch(stack):
        problem = Problem(
            "stack-name-invalid",
            None,
            f"{file}: {visible(repr(stack))} is not a Pulumi stack name (at most 100 letters, "
            "digits, `-`, `_` or `.`). Rename the file to Pulumi.<stack>.yaml with a valid name.",
        )
        return StackReport(visible(stack), file, None, errors=(problem,))
    try:
        parsed = parse_stack_file(read_yaml(inside_project(file, project.directory)), file)
    except StackFileError as error:
        problem = Problem("stack-file-invalid", None, str(error))
        return StackReport(stack, file, None, errors=(problem,))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        problem = Problem(
            "stack-file-unreadable", None, f"{file} cannot be read: {one_line(error)}."
        )
        return StackReport(stack, file, None, errors=(problem,))
    config = stack_config(project, stack, file, parsed.config)
    args, unparsed = parse_settings(config.values, project.directory)
    cli_problems = (*config.problems, *_owners_required(args, file, require_owners))
    known = args.warnings(now)
    tenant = args.tenant_id
    report = StackReport(
        stack,
        file,
        tenant if is_guid(tenant) else None,  # anything else is named, redacted, in an error
        errors=(*parsed.problems, *cli_problems),
        # Every stack hears of EWS's end, and of its certificates, whatever else is wrong.
        warnings=(*parsed.warnings, *known),
        certificates=tuple(
            CertificateReport.of(cert, now, args.adopt.hand_made(cert) if args.adopt else None)
            for cert in args.certificates
        ),
    )
    if parsed.problems or not config.faithful:
        return report

    def run(values: Mapping[str, str]) -> ProgramRun:
        return _run(project, stack, values, now)

    # A value the CLI refuses for its shape is named once, by the CLI's rule.
    shaped = {p.setting for p in config.problems if p.code == "setting-shape"}
    problems = [
        p
        for p in check_settings(args, unparsed, now)
        if not (p.code == "setting-type" and p.setting in shaped)
    ]
    if problems:
        plan = (
            None
            if cli_problems
            else replacement_plan(config.values, args, project.directory, now, run)
        )
        return replace(report, errors=(*report.errors, *problems), plan=plan)
    if cli_problems:
        return report
    owner_problems = _deployer_problems(args, deployer)
    result = run(config.values)
    if result.error is not None:
        refusal = result.refusal or (Problem("program-failed", None, result.error),)
        return replace(report, errors=(*owner_problems, *refusal))
    unknown_deployer = deployer is None and any(deployer_unknown(n) for n in result.notices)
    return replace(
        report,
        errors=owner_problems,
        warnings=(*report.warnings, *(n for n in result.notices if _new(n, known))),
        notes=(
            *((OWNERS_NOTE,) if unknown_deployer else ()),
            *_scope_notes(args),
            *adoption_notes(args.adopt, args.owners or (), deployer, ADOPT_KEY),
        ),
        plan=plan_of(
            result,
            "configuration",
            "What pulumi up would declare and export.",
            unknown=CREATED_AT_DEPLOY if args.adopt is None else READ_AT_DEPLOY,
        ),
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


def _new(notice: Notice, known: list[Notice]) -> bool:
    """A notice of the run not already reported from the settings; the owners one is a note
    offline (the deployer is a placeholder)."""
    return notice not in known and not deployer_unknown(notice)


def _deployer_problems(args: AssociationArgs, deployer: str | None) -> tuple[Problem, ...]:
    owners = [owner.lower() for owner in args.owners or ()]
    if deployer is None or not owners or deployer.lower() in owners:
        return ()
    return (
        Problem(
            "deployer-not-owner",
            OWNERS_KEY,
            f"The deploying identity {deployer} (--deployer) is not among {OWNERS_KEY}. With "
            "Application.ReadWrite.OwnedBy the first `pulumi up` fails at the certificate step: "
            "the provider removes the caller from the owners at the end of creating the "
            "application, and only an owner may add its key credential. Add it to owners.",
        ),
    )


def _scope_notes(args: AssociationArgs) -> tuple[Notice, ...]:
    if not args.scope_enforced or args.consent_declared:
        return ()  # the adopted consent is still granted: its warning says what is next
    if args.exchange.manage:
        return (
            Notice(
                "scope-enforce-order",
                f"{SCOPE_KEY}.enforce",
                f"{SCOPE_KEY}.enforce is true: pulumi up grants nothing tenant-wide. It makes the "
                "scope and its role assignment first and removes a consent left in the stack only "
                "after them (so never run that pulumi up with --continue-on-error or --target). "
                "RBAC takes minutes to hours to apply: safest is a first pulumi up without "
                "enforce, then exchangeOnline.scopeCheck showing InScope True, then enforce.",
            ),
        )
    return (
        Notice(
            "scope-enforce-order",
            f"{SCOPE_KEY}.enforce",
            f"{SCOPE_KEY}.enforce is true: pulumi up grants nothing tenant-wide. In this order: "
            "run exchangeOnline.scope, check that exchangeOnline.scopeCheck shows InScope True, "
            "then deploy; otherwise Mimecast loses access to every mailbox.",
        ),
    )


def _owners_required(args: AssociationArgs, file: str, required: bool) -> tuple[Problem, ...]:
    if not required or args.owners:
        return ()
    return (
        Problem(
            "owners-required",
            OWNERS_KEY,
            f"{OWNERS_KEY} is not set in {file}, so the owners would be whoever runs pulumi: a "
            "pipeline that previews as one identity and deploys as another would report drift "
            "every night. List the owners' object IDs, the deploying pipeline identity's in "
            "this tenant among them.",
        ),
    )


def _run(project: Project, stack: str, config: Mapping[str, str], now: datetime) -> ProgramRun:
    """The real program in preview mode; a crash is this stack's error, not the command's."""
    directory = offline_directory(config.get(TENANT_KEY, ""))
    try:
        return run_program(project.program, stack, config, directory, preview=True, now=now)
    except Exception as error:  # the program is code under review: report it, go on
        return ProgramRun(error=f"The program failed: {type(error).__name__}: {error}")
