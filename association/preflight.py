"""`python -m association preflight`: check tenant stacks offline and show what `pulumi up` does.

For reviewers and newcomers without Azure credentials or the Pulumi CLI. It reads `Pulumi.yaml`
and the `Pulumi.<stack>.yaml` files as the CLI does (project defaults, namespaces, types,
`secure:` values), runs the program's own checks, then runs the real `__main__.py` under the
SDK's mock engine in preview mode (`association.offline`): one isolated run per stack, all in
one process. It opens no network connection and invents no value: what only a deploy creates,
or only the tenant can answer, is marked as such.

Exit status: 0 no stack has errors (warnings allowed), 1 some stack has errors, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from pathlib import Path
from typing import Any, Final, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from association.certificates import (
    Certificate,
    CertificateError,
    load_certificate,
    parse_certificate,
    rfc3339,
    validity_problems,
)
from association.clock import current_time
from association.offline import (
    KNOWN_AFTER_DEPLOY,
    DeclaredResource,
    Directory,
    ProgramRun,
    run_program,
)
from association.pulumi_config import (
    Project,
    StackConfig,
    StackFileError,
    UsageError,
    load_project,
    one_line,
    parse_stack_file,
    stack_config,
)
from association.settings import NAMESPACE, TENANT_KEY, SettingsError, read_settings

PROG: Final = "python -m association preflight"
EXIT_OK: Final = 0
EXIT_ERRORS: Final = 1
EXIT_USAGE: Final = 2

CERTIFICATES_KEY: Final = f"{NAMESPACE}:certificates"
OWNERS_KEY: Final = f"{NAMESPACE}:owners"

Status = Literal["ok", "warnings", "errors"]
Basis = Literal["configuration", "replacementCertificates"]


def header(now: datetime) -> str:
    """The first line of every report: what this check is, and what it is not."""
    return (
        f"{NAMESPACE} preflight, offline: no network connection, no credentials, no Pulumi CLI. "
        f"Certificates judged at {rfc3339(now)}. Tenant lookups are not made: assumes you sign "
        "in to each stack's configured tenant."
    )


# --- values preflight cannot know, and how they are shown ----------------------------------------


@dataclass(frozen=True)
class Marker:
    """Stands where a real value would be: unknown offline, or shortened. Never a made-up value."""

    text: str
    json: Mapping[str, str]


CREATED_AT_DEPLOY: Final = Marker("(created at deploy)", {"unknown": "createdAtDeploy"})


def looked_up(what: str) -> Marker:
    return Marker(
        f"(looked up in the tenant at deploy: {what})",
        {"unknown": "lookedUpAtDeploy", "what": what},
    )


def pem_certificate(thumbprint: str) -> Marker:
    return Marker(f"(PEM certificate, thumbprint {thumbprint})", {"pemCertificate": thumbprint})


def from_replacement(entry: str, what: str) -> Marker:
    return Marker(
        f"(from the new {entry}: {what})",
        {
            "unknown": "replacementCertificate",
            "what": f"{what} of the certificate replacing {entry}",
        },
    )


DEPLOYER: Final = "<object ID of the identity that runs pulumi up>"
EXCHANGE: Final = "<object ID of Office 365 Exchange Online's service principal>"
DOMAIN: Final = "<the tenant's initial *.onmicrosoft.com domain>"
LOOKUPS: Final = {text: looked_up(text.strip("<>")) for text in (DEPLOYER, EXCHANGE, DOMAIN)}
"""What the tenant lookups answer offline: placeholders that the report turns into markers."""


def offline_directory(tenant_id: str) -> Directory:
    """The tenant as preflight answers for it: the configured tenant, everything else unknown."""
    return Directory(tenant_id, DEPLOYER, EXCHANGE, DOMAIN)


# --- one stack: checks, certificates, plan -------------------------------------------------------


@dataclass(frozen=True)
class CertificateReport:
    """One certificate as an administrator compares it with Mimecast's console."""

    source: str
    thumbprint: str
    key_id: str
    subject: str
    not_before: str
    not_after: str
    days_left: int

    @classmethod
    def of(cls, cert: Certificate, now: datetime) -> CertificateReport:
        return cls(
            cert.source,
            cert.thumbprint,
            cert.key_id,
            cert.subject,
            cert.start_date,
            cert.end_date,
            cert.days_left(now),
        )


@dataclass(frozen=True)
class Plan:
    """What the program declares and exports; `basis` says under which configuration."""

    basis: Basis
    description: str
    resources: tuple[DeclaredResource, ...]
    outputs: Mapping[str, Any]


@dataclass(frozen=True)
class StackReport:
    """Everything preflight found out about one stack."""

    stack: str
    file: str
    tenant_id: str | None
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    certificates: tuple[CertificateReport, ...] = ()
    plan: Plan | None = None

    @property
    def status(self) -> Status:
        return "errors" if self.errors else "warnings" if self.warnings else "ok"


OWNERS_NOTE: Final = (
    f"{NAMESPACE}:owners is set, so the identity that runs `pulumi up` must be among the owners "
    "if it only holds Application.ReadWrite.OwnedBy. Its object ID is looked up when signed in, "
    "so the program checks this at deploy, not here."
)


def check_stack(
    project: Project, stack: str, now: datetime, require_owners: bool = False
) -> StackReport:
    """Check one stack and work out its plan; nothing of another stack is seen or kept."""
    path = project.stacks[stack]
    file = path.relative_to(project.directory).as_posix()
    try:
        parsed = parse_stack_file(path.read_text(encoding="utf-8"), file)
    except (OSError, UnicodeDecodeError) as error:
        return StackReport(
            stack, file, None, errors=(f"{file} cannot be read: {one_line(error)}.",)
        )
    except StackFileError as error:
        return StackReport(stack, file, None, errors=(str(error),))
    config = stack_config(project, stack, file, parsed.config)
    if require_owners and config.values.get(OWNERS_KEY, "[]") == "[]":
        config = replace(config, problems=(*config.problems, _owners_required(file)))
    loaded = [
        _load(entry, index, project.directory)
        for index, entry in enumerate(_certificate_entries(config.values))
    ]
    report = StackReport(
        stack,
        file,
        config.values.get(TENANT_KEY),
        errors=(*parsed.problems, *config.problems),
        warnings=parsed.warnings,
        certificates=tuple(CertificateReport.of(cert, now) for cert in loaded if cert is not None),
    )
    if parsed.problems or not config.faithful:
        return report
    try:
        read_settings(config.values, project.directory, now)
    except SettingsError as error:
        plan = None if config.problems else _replacement_plan(project, stack, config, loaded, now)
        return replace(report, errors=(*report.errors, *error.problems), plan=plan)
    if config.problems:
        return report
    run = _run(project, stack, config.values, now)
    if run.error is not None:
        return replace(report, errors=tuple(_refusal_problems(run.error)))
    owners_unchecked = [warning for warning in run.warnings if DEPLOYER in warning]
    return replace(
        report,
        warnings=(*report.warnings, *(w for w in run.warnings if w not in owners_unchecked)),
        notes=(OWNERS_NOTE,) if owners_unchecked else (),
        plan=_plan(run, "configuration", "What pulumi up would declare and export.", {}),
    )


def _owners_required(file: str) -> str:
    return (
        f"{OWNERS_KEY} is not set in {file}, so the owners would be whoever runs pulumi: a "
        "pipeline that previews as one identity and deploys as another would report drift "
        "every night. List the owners' object IDs, the deploying pipeline identity's in this "
        "tenant among them."
    )


def check_stacks(
    project: Project,
    stacks: Sequence[str],
    now: datetime,
    jobs: int = 1,
    require_owners: bool = False,
) -> list[StackReport]:
    """Every stack's report, in the order given; each stack is checked on its own either way."""
    check = partial(check_stack, project, now=now, require_owners=require_owners)
    if jobs == 1 or len(stacks) < 2:
        return [check(stack) for stack in stacks]
    # Forked workers inherit the imported SDK and program, so no stack pays an interpreter start.
    with multiprocessing.get_context("fork").Pool(min(jobs, len(stacks))) as pool:
        return pool.map(check, stacks, chunksize=8)


def _jobs(text: str) -> int:
    jobs = int(text)
    if jobs < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    if jobs > 1 and "fork" not in multiprocessing.get_all_start_methods():
        raise argparse.ArgumentTypeError("more than 1 needs fork (Linux or macOS)")
    return jobs


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


def _refusal_problems(error: str) -> list[str]:
    """The numbered problems of the program's refusal (`component.refusal`), else the whole text."""
    return re.findall(r"^\s+\d+\. (.*)$", error, re.MULTILINE) or [error]


def _replacement_plan(
    project: Project,
    stack: str,
    config: StackConfig,
    loaded: Sequence[Certificate | None],
    now: datetime,
) -> Plan | None:
    """The plan once the refused certificates are replaced, when nothing else stands in the way.

    Each refused entry is swapped for a throwaway certificate valid at `now`, so that the real
    program runs; every value derived from one (body, thumbprint, keyId, dates, subject, names)
    is then shown as coming from the replacement, never as itself.
    """
    refused = [i for i, cert in enumerate(loaded) if cert is None or validity_problems(cert, now)]
    if not refused:
        return None
    stand_ins = {index: _stand_in(index, now) for index in refused}
    entries = [
        stand_ins[index].pem if index in stand_ins else entry
        for index, entry in enumerate(_certificate_entries(config.values))
    ]
    candidate = {**config.values, CERTIFICATES_KEY: json.dumps(entries)}
    try:
        read_settings(candidate, project.directory, now)
    except SettingsError:
        return None
    run = _run(project, stack, candidate, now)
    if run.error is not None:
        return None
    masks: dict[str, Marker | str] = {}
    for index, cert in stand_ins.items():
        entry = f"certificates[{index}]"
        masks[cert.thumbprint[:16].lower()] = f"<{entry} replacement>"
        for what, value in (
            ("PEM body", cert.pem),
            ("thumbprint", cert.thumbprint),
            ("customKeyIdentifier", cert.custom_key_identifier),
            ("keyId", cert.key_id),
            ("notBefore", cert.start_date),
            ("notAfter", cert.end_date),
            ("subject", cert.subject),
        ):
            masks[value] = from_replacement(entry, what)
    names = " and ".join(f"certificates[{index}]" for index in refused)
    description = (
        f"As configured, pulumi up declares nothing. Once {names} "
        f"{'is' if len(refused) == 1 else 'are'} replaced with Mimecast's current certificate, it "
        "would declare and export this; values marked as from the replacement come from it."
    )
    return _plan(run, "replacementCertificates", description, masks)


def _plan(
    run: ProgramRun, basis: Basis, description: str, masks: Mapping[str, Marker | str]
) -> Plan:
    resources = [
        replace(
            resource,
            urn=_present(resource.urn, masks),
            name=_present(resource.name, masks),
            parent=_present(resource.parent, masks),
            inputs=_present(resource.inputs, masks),
        )
        for resource in run.resources
    ]
    outputs = {name: _present(value, masks) for name, value in run.outputs.items()}
    return Plan(basis, description, tuple(_tree_order(resources)), outputs)


def _tree_order(resources: Sequence[DeclaredResource]) -> list[DeclaredResource]:
    """Parents before children, siblings by type and name: registration order is asynchronous,
    and a plan that reorders itself between runs would make reviewers hunt for changes."""
    urns = {resource.urn for resource in resources}
    ordered: list[DeclaredResource] = []

    def visit(parent: str | None) -> None:
        children = [r for r in resources if (r.parent if r.parent in urns else None) == parent]
        for child in sorted(children, key=lambda r: (r.type, r.name)):
            ordered.append(child)
            visit(child.urn)

    visit(None)
    return ordered


def _present(value: Any, masks: Mapping[str, Marker | str]) -> Any:
    """A value as preflight shows it: unknowns marked, certificate bodies cut to thumbprints."""
    if value is KNOWN_AFTER_DEPLOY:
        return CREATED_AT_DEPLOY
    if isinstance(value, dict):
        return {key: _present(value[key], masks) for key in sorted(value)}
    if isinstance(value, list):
        return [_present(item, masks) for item in value]
    if not isinstance(value, str):
        return value
    whole = masks.get(value) or LOOKUPS.get(value)
    if isinstance(whole, Marker):
        return whole
    if "-----BEGIN CERTIFICATE-----" in value:
        return pem_certificate(parse_certificate(value.encode("ascii"), "an input").thumbprint)
    for part, name in masks.items():
        if isinstance(name, str):
            value = value.replace(part, name)
    return value


@cache
def _stand_in_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def _stand_in(index: int, now: datetime) -> Certificate:
    """A throwaway certificate valid at `now`, only to let the program declare; always masked."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"replacement {index}")])
    key = _stand_in_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(index + 1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(datetime(9999, 12, 31, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    return parse_certificate(cert.public_bytes(Encoding.PEM), f"replacement {index}")


# --- reports -------------------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """Plain JSON: markers become their `{"unknown": ...}` or `{"pemCertificate": ...}` objects."""
    if isinstance(value, Marker):
        return dict(value.json)
    if isinstance(value, Mapping):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    return value


def render_json(reports: Sequence[StackReport], now: datetime) -> str:
    """One JSON document: the header, the instant, `ok`, and one object per stack."""
    document = {
        "header": header(now),
        "evaluatedAt": rfc3339(now),
        "ok": not any(report.errors for report in reports),
        "stacks": [
            {
                "stack": report.stack,
                "file": report.file,
                "tenantId": report.tenant_id,
                "status": report.status,
                "errors": report.errors,
                "warnings": report.warnings,
                "notes": report.notes,
                "certificates": [
                    {
                        "source": cert.source,
                        "thumbprint": cert.thumbprint,
                        "keyId": cert.key_id,
                        "subject": cert.subject,
                        "notBefore": cert.not_before,
                        "notAfter": cert.not_after,
                        "daysLeft": cert.days_left,
                    }
                    for cert in report.certificates
                ],
                "plan": None if report.plan is None else _plan_json(report.plan),
            }
            for report in reports
        ],
    }
    return json.dumps(to_json(document), indent=2)


def _plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "basis": plan.basis,
        "description": plan.description,
        "resources": [
            {
                "type": resource.type,
                "name": resource.name,
                "urn": resource.urn,
                "parent": resource.parent,
                "protect": resource.protect,
                "deleteBeforeReplace": resource.delete_before_replace,
                "inputs": resource.inputs,
            }
            for resource in plan.resources
        ],
        "outputs": plan.outputs,
    }


_RANK: Final = {"errors": 0, "warnings": 1, "ok": 2}


def render_text(reports: Sequence[StackReport], now: datetime) -> str:
    """For people: the header, one block per stack (stacks with errors first), a summary."""
    lines = [header(now)]
    for report in sorted(reports, key=lambda r: _RANK[r.status]):
        lines.extend(["", *_stack_lines(report)])
    counts = {status: sum(r.status == status for r in reports) for status in _RANK}
    summary = (
        f"{len(reports)} stack{'s' if len(reports) != 1 else ''} checked: {counts['errors']} with "
        f"errors, {counts['warnings']} with warnings, {counts['ok']} ok."
    )
    failed = [report.stack for report in reports if report.errors]
    lines.extend(["", summary + (f" Errors in: {', '.join(failed)}." if failed else "")])
    return "\n".join(lines)


def _stack_lines(report: StackReport) -> list[str]:
    tenant = f", tenant {report.tenant_id}" if report.tenant_id else ""
    lines = [f"== {report.stack}: {report.status.upper()} ({report.file}{tenant})"]
    for label, messages in (
        ("error", report.errors),
        ("warning", report.warnings),
        ("note", report.notes),
    ):
        lines.extend(f"  {label:<8} {message}" for message in messages)
    for cert in report.certificates:
        validity = (
            f"EXPIRED {-cert.days_left} days ago"
            if cert.days_left < 0
            else f"{cert.days_left} days left"
        )
        lines.extend(
            [
                f"  certificate {cert.thumbprint}  {validity}",
                *_aligned(
                    {
                        "keyId": cert.key_id,
                        "subject": cert.subject,
                        "valid": f"{cert.not_before} to {cert.not_after}",
                        "source": cert.source,
                    },
                    "      ",
                ),
            ]
        )
    if report.plan is None:
        if report.errors:
            lines.append("  plan     none: pulumi up would stop at the errors above")
        return lines
    lines.append(f"  plan     {report.plan.description}")
    depth: dict[str, int] = {}
    for resource in report.plan.resources:
        depth[resource.urn] = depth.get(resource.parent, 0) + 1
        indent = "  " * (depth[resource.urn] + 1)
        options = [
            option
            for option, on in (
                ("protect", resource.protect),
                ("delete before replace", resource.delete_before_replace),
            )
            if on
        ]
        flags = f"  [{', '.join(options)}]" if options else ""
        lines.append(f"{indent}{resource.type}  {resource.name}{flags}")
        lines.extend(_aligned(resource.inputs, indent + "    "))
    lines.append("  outputs")
    lines.extend(_aligned(report.plan.outputs, "    "))
    return lines


def _aligned(values: Mapping[str, Any], indent: str) -> list[str]:
    width = max((len(key) for key in values), default=0)
    return [f"{indent}{key:<{width}}  {_text(value)}" for key, value in values.items()]


def _text(value: Any) -> str:
    if isinstance(value, Marker):
        return value.text
    if isinstance(value, str):
        return value if value and value == value.strip() else json.dumps(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {_text(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_text(item) for item in value) + "]"
    return json.dumps(value)


# --- command line --------------------------------------------------------------------------------


def parse_now(text: str) -> datetime:
    """`--now`: an ISO 8601 date or timestamp; without an offset it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--now {text!r} is not an ISO 8601 date or timestamp (e.g. 2026-12-01 or "
            "2026-12-01T09:00:00Z)"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def select_stacks(
    project: Project, names: Sequence[str], excluded: Sequence[str] = ()
) -> list[str]:
    """The stacks asked for (all but `excluded` when none are named).

    An unknown name is a usage error; an unknown exclusion is not, so pipelines can always
    exclude the shipped example stack, whether or not a repository still has it.
    """
    known = ", ".join(project.stacks) or "none"
    if not names:
        if not project.stacks:
            raise UsageError(f"no stack files (Pulumi.<stack>.yaml) in {project.directory}")
        return [stack for stack in project.stacks if stack not in excluded]
    unknown = [name for name in names if name not in project.stacks]
    if unknown:
        raise UsageError(
            f"unknown stack {', '.join(unknown)}: no Pulumi.<stack>.yaml for it in "
            f"{project.directory.resolve()} (stacks: {known})"
        )
    return list(dict.fromkeys(names))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Check tenant stacks offline (no network, no credentials, no Pulumi CLI) and "
        "show what `pulumi up` would create and grant in each tenant. Exit status: 0 no stack "
        "has errors, 1 some stack has errors, 2 usage error.",
    )
    parser.add_argument(
        "stacks", nargs="*", metavar="STACK", help="stacks to check (default: every stack file)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--now",
        metavar="TIMESTAMP",
        help="judge certificates at this instant instead of now, e.g. the day you deploy",
    )
    parser.add_argument(
        "--exclude",
        metavar="STACK",
        action="append",
        default=[],
        help="leave this stack out when checking every stack (repeatable), e.g. example",
    )
    parser.add_argument(
        "--require-owners",
        action="store_true",
        help="an error for every stack that leaves owners unset (pipelines use this)",
    )
    parser.add_argument(
        "--jobs",
        metavar="N",
        type=_jobs,
        default=1,
        help="check stacks in N worker processes forked after the program is imported "
        "(default 1: all in this process); worth it from a few dozen stacks",
    )
    parser.add_argument(
        "--project-dir",
        metavar="DIR",
        type=Path,
        default=Path(),
        help="the project directory (default: the current directory)",
    )
    return parser


def main(argv: Sequence[str]) -> int:
    """Run the preflight; see the module docstring for the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # argparse has printed the usage or the help
        return EXIT_OK if stop.code == 0 else EXIT_USAGE
    try:
        now = parse_now(args.now) if args.now is not None else current_time()
        project = load_project(args.project_dir)
        stacks = select_stacks(project, args.stacks, args.exclude)
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    reports = check_stacks(project, stacks, now, args.jobs, args.require_owners)
    print(render_json(reports, now) if args.json else render_text(reports, now))
    return EXIT_ERRORS if any(report.errors for report in reports) else EXIT_OK
