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
import difflib
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

import yaml
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
    quoted,
    rfc3339,
    validity_problems,
)
from association.clock import current_time
from association.offline import KNOWN_AFTER_DEPLOY, Directory, ProgramRun, run_program
from association.settings import NAMESPACE, SETTINGS, TENANT_KEY, SettingsError, read_settings

PROG: Final = "python -m association preflight"
EXIT_OK: Final = 0
EXIT_ERRORS: Final = 1
EXIT_USAGE: Final = 2

CERTIFICATES_KEY: Final = f"{NAMESPACE}:certificates"
OWNERS_KEY: Final = f"{NAMESPACE}:owners"
PROGRAM_KEYS: Final = frozenset(setting.key for setting in SETTINGS)
STACK_FILE: Final = re.compile(r"^Pulumi\.(?P<stack>.+)\.ya?ml$")

Status = Literal["ok", "warnings", "errors"]
Basis = Literal["configuration", "replacementCertificates"]


class UsageError(Exception):
    """The command cannot run as asked (exit status 2); the message says why."""


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


# --- Pulumi.yaml and stack files, read as the Pulumi CLI reads them ------------------------------


class _GoYaml(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """YAML's 1.2 core schema, as Pulumi's Go YAML library reads it: `yes`, `on`, dates are text.

    libyaml's parser (in PyYAML's wheels) when present: hundreds of stack files add up.
    """


_GoYaml.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("int", r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
        r"|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
):
    _GoYaml.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), _first)


@dataclass(frozen=True)
class ConfigValue:
    """One config value as the CLI hands it to the program."""

    text: str
    """Scalars as written (`true`, `30`); lists and maps as JSON."""
    structured: bool = False
    secure: bool = False


def config_value(value: object) -> ConfigValue:
    """A `Pulumi.yaml` default as the CLI passes it on (Go's `createConfigValue`)."""
    if isinstance(value, bool):
        return ConfigValue("true" if value else "false")
    if isinstance(value, str | int):
        return ConfigValue(str(value))
    return ConfigValue(json.dumps(value, sort_keys=True, separators=(",", ":")), structured=True)


@dataclass(frozen=True)
class ProjectKey:
    """One entry of `Pulumi.yaml`'s `config:` block."""

    key: str
    """Full key, `namespace:name`."""
    name: str
    """As written in `Pulumi.yaml`: short for the project's own keys."""
    type: str | None = None
    items: Any = None
    default: ConfigValue | None = None
    """The `default` (or `value`) the CLI applies when a stack leaves the key unset."""


@dataclass(frozen=True)
class Project:
    """The project directory, its config declarations and its stack files."""

    directory: Path
    keys: tuple[ProjectKey, ...]
    stacks: Mapping[str, Path]

    @property
    def program(self) -> Path:
        return self.directory / "__main__.py"


def load_project(directory: Path) -> Project:
    """Read `Pulumi.yaml` and find the stack files; `UsageError` when this is not our project."""
    path = next(
        (file for file in (directory / "Pulumi.yaml", directory / "Pulumi.yml") if file.is_file()),
        None,
    )
    if path is None:
        raise UsageError(
            f"no Pulumi.yaml in {directory.resolve()}: run in the project directory or pass "
            "--project-dir DIR"
        )
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_GoYaml)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise UsageError(f"{path} cannot be read: {_one_line(error)}") from None
    if not isinstance(document, dict) or document.get("name") != NAMESPACE:
        raise UsageError(f"{path} is not the {NAMESPACE} project (its `name` must be {NAMESPACE})")
    declared = document.get("config") or {}
    if not isinstance(declared, dict):
        raise UsageError(f"{path}: `config` must be a map of keys to declarations")
    keys = tuple(_project_key(str(name), entry, path) for name, entry in declared.items())
    stack_dir = directory / str(document.get("stackConfigDir") or ".")
    stacks: dict[str, Path] = {}
    for file in sorted(stack_dir.glob("Pulumi.*.y*ml"), key=lambda f: f.suffix != ".yaml"):
        match = STACK_FILE.match(file.name)
        if match and file.is_file():
            stacks.setdefault(match["stack"], file)
    return Project(directory, keys, dict(sorted(stacks.items())))


def _project_key(name: str, entry: object, path: Path) -> ProjectKey:
    """One declaration, with the check the CLI makes of a typed default before anything runs."""
    key = name if ":" in name else f"{NAMESPACE}:{name}"
    if not isinstance(entry, dict):  # shorthand: `name: value`
        return ProjectKey(key, name, default=config_value(entry))
    type_name, items = entry.get("type"), entry.get("items")
    default = entry.get("default", entry.get("value"))
    if (
        type_name is not None
        and default is not None
        and not matches_type(type_name, items, default)
    ):
        raise UsageError(
            f"{path}: The default value specified for configuration key '{name}' is not of the "
            f"expected type '{full_type_name(type_name, items)}'"
        )
    return ProjectKey(
        key, name, type_name, items, None if default is None else config_value(default)
    )


def matches_type(type_name: str, items: Any, value: object) -> bool:
    """Pulumi's `ValidateConfigValue`: what a typed project key accepts from a stack."""
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        if isinstance(value, float):
            return value.is_integer()
        if isinstance(value, str):
            return re.fullmatch(r"[-+]?[0-9]+", value) is not None
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if type_name == "object":
        return isinstance(value, dict)
    return (
        isinstance(value, list)
        and isinstance(items, dict)
        and all(matches_type(str(items.get("type")), items.get("items"), item) for item in value)
    )


def full_type_name(type_name: str, items: Any) -> str:
    """`array<string>` and the like, as Pulumi names a type in its messages."""
    if isinstance(items, dict):
        return f"array<{full_type_name(str(items.get('type')), items.get('items'))}>"
    return type_name


class StackFileError(ValueError):
    """A stack file the CLI cannot load at all: nothing in it can be checked."""


@dataclass(frozen=True)
class StackFile:
    """The `config:` of one stack file, and what is wrong with its keys."""

    config: Mapping[str, ConfigValue]
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def parse_stack_file(text: str, file: str) -> StackFile:
    """Read a stack file's config the way the CLI does.

    Scalars stay as written (`true` is "true", `30` is "30"), lists and maps become JSON,
    `{secure: ...}` marks an encrypted value. Keys need a namespace (`ns:key`). Raises
    `StackFileError` when the file is not YAML or not shaped like a stack file.
    """
    loader = _GoYaml(text)
    try:
        root = loader.get_single_node()
        document = _mapping(root, "the file") if root is not None else {}
        entries = _mapping(document["config"], "`config`") if "config" in document else {}
        config = {}
        problems = []
        for name, node in entries.items():
            key = _config_key(name)
            if key is None:
                problems.append(
                    f"{file}: could not parse {name} as a configuration key (configuration keys "
                    f"should be of the form `<namespace>:<name>`). Write it as {NAMESPACE}:{name}."
                )
            else:
                config[key] = _config_value(loader, node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise StackFileError(
            f"{file} is not valid YAML: {error.problem or error.context}{where}. Fix the file."
        ) from None
    except (yaml.YAMLError, ValueError) as error:
        raise StackFileError(
            f"{file} cannot be loaded: {_one_line(error)}. Fix the file."
        ) from None
    finally:
        loader.dispose()
    environments = (
        f"{file} imports Pulumi ESC environments, which preflight cannot read offline: config "
        "they set is not checked here.",
    )
    return StackFile(config, tuple(problems), environments if "environment" in document else ())


def _mapping(node: yaml.Node, what: str) -> dict[str, yaml.Node]:
    """A YAML mapping's entries by key; like Go's YAML library, a repeated key is an error."""
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise ValueError(f"{what} must be a map (line {node.start_mark.line + 1})")
    entries: dict[str, yaml.Node] = {}
    for key, value in node.value:
        if str(key.value) in entries:
            raise ValueError(
                f'line {key.start_mark.line + 1}: mapping key "{key.value}" already defined'
            )
        entries[str(key.value)] = value
    return entries


def _config_key(name: str) -> str | None:
    """`ns:name`, or the legacy `ns:config:name`; None for anything else (Pulumi's `ParseKey`)."""
    parts = name.split(":")
    if len(parts) == 2:
        return name
    if len(parts) == 3 and parts[1] == "config":
        return f"{parts[0]}:{parts[2]}"
    return None


def _config_value(loader: _GoYaml, node: yaml.Node) -> ConfigValue:
    if isinstance(node, yaml.ScalarNode):
        return ConfigValue("" if node.tag.endswith(":null") else str(node.value))
    value = loader.construct_document(node)
    if isinstance(value, dict) and set(value) == {"secure"}:
        return ConfigValue(str(value["secure"]), secure=True)
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return ConfigValue(text, structured=True, secure='{"secure":' in text)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


@dataclass(frozen=True)
class StackConfig:
    """The config the program would receive, and the CLI's objections to it."""

    values: Mapping[str, str]
    problems: tuple[str, ...]
    faithful: bool
    """False when the program would not get what the stack file says (encrypted or mistyped),
    so running its checks on `values` would report the wrong things."""


def stack_config(
    project: Project, stack: str, file: str, values: Mapping[str, ConfigValue]
) -> StackConfig:
    """Apply `Pulumi.yaml` to a stack's config and check it, as `pulumi up` does first."""
    problems = []
    distorted = False
    declared = {key.key: key for key in project.keys}
    own = f"{NAMESPACE}:"
    known_names = {key.name for key in project.keys} | {s.name for s in SETTINGS}
    for key, value in values.items():
        if value.secure and (key in PROGRAM_KEYS or key.startswith(own)):
            distorted = True
            problems.append(
                f"{file} stores {key} encrypted (secure:), which preflight cannot read offline; "
                "none of this project's settings is secret. Store it in plain text: "
                f"`pulumi config set {key} VALUE --stack {stack}` (without --secret)."
            )
        elif key.startswith(own) and key not in declared and key not in PROGRAM_KEYS:
            name = key.removeprefix(own)
            close = difflib.get_close_matches(name, sorted(known_names), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            problems.append(
                f"Stack '{stack}' uses configuration value '{name}' which is not defined by the "
                f"project configuration, so nothing reads it.{hint} Fix the name or remove it "
                f"from {file}."
            )
    config = {key: value.text for key, value in values.items() if not value.secure}
    missing: list[str] = []
    for declaration in project.keys:
        setting = values.get(declaration.key)
        if setting is None:
            if declaration.default is not None:
                config[declaration.key] = declaration.default.text
            elif declaration.key.startswith(own):
                missing.append(declaration.name)
        elif (
            declaration.type is not None
            and not setting.secure
            and declaration.key not in PROGRAM_KEYS
        ):
            # The program's own check reports its keys' types, with the command that fixes them.
            content = json.loads(setting.text) if setting.structured else setting.text
            if not matches_type(declaration.type, declaration.items, content):
                distorted = True
                problems.append(
                    f"Stack '{stack}' with configuration key '{declaration.name}' must be of type "
                    f"'{full_type_name(declaration.type, declaration.items)}'; {file} has "
                    f"{quoted(setting.text)}."
                )
    if missing:
        names = " and ".join(f"'{name}'" for name in missing)
        values_word, pronoun = ("values", "them") if len(missing) > 1 else ("value", "it")
        problems.append(
            f"Stack '{stack}' is missing configuration {values_word} {names}: Pulumi.yaml declares "
            f"{pronoun} without a default, so `pulumi up` stops until {file} sets {pronoun} or "
            "Pulumi.yaml gives a default."
        )
    return StackConfig(config, tuple(problems), faithful=not distorted)


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
class PlannedResource:
    """One resource `pulumi up` would declare, with its inputs as preflight can show them."""

    urn: str
    type: str
    name: str
    parent: str
    protect: bool
    delete_before_replace: bool
    inputs: Mapping[str, Any]


@dataclass(frozen=True)
class Plan:
    """What the program declares and exports; `basis` says under which configuration."""

    basis: Basis
    description: str
    resources: tuple[PlannedResource, ...]
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
            stack, file, None, errors=(f"{file} cannot be read: {_one_line(error)}.",)
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
        PlannedResource(
            urn=_present(resource.urn, masks),
            type=resource.type,
            name=_present(resource.name, masks),
            parent=_present(resource.parent, masks),
            protect=resource.protect,
            delete_before_replace=resource.delete_before_replace,
            inputs=_present(resource.inputs, masks),
        )
        for resource in run.resources
    ]
    outputs = {name: _present(value, masks) for name, value in run.outputs.items()}
    return Plan(basis, description, tuple(_tree_order(resources)), outputs)


def _tree_order(resources: Sequence[PlannedResource]) -> list[PlannedResource]:
    """Parents before children, siblings by type and name: registration order is asynchronous,
    and a plan that reorders itself between runs would make reviewers hunt for changes."""
    urns = {resource.urn for resource in resources}
    ordered: list[PlannedResource] = []

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
