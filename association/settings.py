"""Stack settings: the config keys a tenant stack takes, their defaults, and their checks.

`SETTINGS` is the one source of truth for defaults: `Pulumi.yaml` declares the same
block (a test keeps them equal) and `read_settings` applies the defaults itself, because
only the Pulumi CLI applies `Pulumi.yaml` defaults and offline runs have no CLI.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import pulumi

from association.adoption import parse_adoption
from association.certificates import Certificate, CertificateError, load_certificate
from association.clock import current_time
from association.component_args import CERTIFICATES_KEY, AssociationArgs
from association.exchange import parse_scope
from association.identifiers import DEFAULT_DISPLAY_NAME, NAMESPACE, TENANT_KEY, setting_key
from association.problems import Problem
from association.redaction import quoted
from association.refusal import Refusal

__all__ = [
    "NAMESPACE",
    "SETTINGS",
    "TENANT_KEY",
    "Setting",
    "SettingsError",
    "parse_settings",
    "read_settings",
]

JsonValue = str | int | bool | list[str] | dict[str, object] | None
"""A setting's default, as `Pulumi.yaml` writes it."""


@dataclass(frozen=True)
class Setting:
    """One stack config key as `Pulumi.yaml` declares it."""

    name: str
    type: str
    description: str
    default: JsonValue = None

    @property
    def key(self) -> str:
        return setting_key(self.name)


SETTINGS: Final = (
    Setting(
        TENANT_KEY,
        "string",
        "Tenant ID (GUID) of the Microsoft 365 tenant this stack manages; one stack per tenant.",
    ),
    Setting(
        "displayName",
        "string",
        "Display name of the Entra ID application, as in Mimecast's guide.",
        DEFAULT_DISPLAY_NAME,
    ),
    Setting(
        "certificates",
        "array",
        "Mimecast public certificates: paths relative to the project (PEM or DER) or inline "
        "PEM. List two while rotating.",
        ["certs/mimecast.pem"],
    ),
    Setting(
        "owners",
        "array",
        "Object IDs of the owners of the application and service principal. Empty: the "
        "deploying identity. Set: exactly these (include the pipeline identity).",
        [],
    ),
    Setting(
        "expiryWarningDays",
        "integer",
        "Warn when a certificate expires within this many days.",
        30,
    ),
    Setting(
        "protect",
        "boolean",
        "Protect the application and its service principal from deletion and replacement.",
        True,
    ),
    Setting(
        "adopt",
        "object",
        "Take over the application made by hand from Mimecast's guide: applicationObjectId, "
        "servicePrincipalObjectId, appRoleAssignmentId and keyIds (thumbprint to keyId). Empty: "
        "create a new application.",
        {},
    ),
    Setting(
        "allowAfterEwsShutdown",
        "boolean",
        "Declare the association even after EWS in Exchange Online is shut down (2027-04-01), "
        "for the case Microsoft moves the date.",
        False,
    ),
    Setting(
        "mailboxScope",
        "object",
        "Limit Mimecast to one group's mailboxes with RBAC for Applications: group (the "
        "mail-enabled security group) and enforce (true: no tenant-wide consent). Empty: every "
        "mailbox.",
        {},
    ),
)


class SettingsError(ValueError):
    """Every problem found in a stack's settings, each naming its setting and fix."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(problem.message for problem in problems))
        self.problems = problems


def read_settings(raw: Mapping[str, str], project_dir: Path, now: datetime) -> AssociationArgs:
    """Parse raw config strings (as Pulumi hands them over) and check them all at once.

    Raises `SettingsError` listing every problem; nothing is declared before this passes.
    """
    args, problems = parse_settings(raw, project_dir)
    # An entry that failed to load is reported already; "no certificate" would only repeat it.
    unloadable = any(p.setting and p.setting.startswith(f"{CERTIFICATES_KEY}[") for p in problems)
    problems.extend(
        p for p in args.problems(now) if not (unloadable and p.setting == CERTIFICATES_KEY)
    )
    if problems:
        raise SettingsError(problems)
    return args


def parse_settings(
    raw: Mapping[str, str], project_dir: Path
) -> tuple[AssociationArgs, list[Problem]]:
    """The settings as far as they parse, and what did not parse; no judgement of the values.

    For tools that must look at a stack whatever is wrong with it (the security audit): an
    expired certificate is kept, an entry that cannot be read is left out and named.
    """
    problems: list[Problem] = []
    config = _Config(raw, problems)
    certificates: list[Certificate] = []
    for index, entry in enumerate(config.strings("certificates")):
        try:
            certificates.append(
                load_certificate(entry, f"{CERTIFICATES_KEY}[{index}]", project_dir)
            )
        except CertificateError as error:
            problems.append(error.problem)
    adoption, adopt_problems = parse_adoption(config.mapping("adopt"))
    scope, scope_problems = parse_scope(config.mapping("mailboxScope"))
    problems.extend([*adopt_problems, *scope_problems])
    args = AssociationArgs(
        tenant_id=raw.get(TENANT_KEY, ""),
        certificates=tuple(certificates),
        display_name=config.string("displayName"),
        owners=config.strings("owners") or None,
        expiry_warning_days=config.integer("expiryWarningDays"),
        protect=config.boolean("protect"),
        adopt=adoption,
        allow_after_ews_shutdown=config.boolean("allowAfterEwsShutdown"),
        mailbox_scope=scope,
    )
    return args, problems


def load_stack_settings(project_dir: Path) -> AssociationArgs:
    """Read this stack's config, or stop the run with every problem in one `RunError`."""
    raw = {s.key: text for s in SETTINGS if (text := pulumi.runtime.get_config(s.key)) is not None}
    try:
        return read_settings(raw, project_dir, current_time())
    except SettingsError as error:
        raise Refusal(error.problems) from None


class _Config:
    """Typed reads of raw config strings, with the declared default for unset keys."""

    def __init__(self, raw: Mapping[str, str], problems: list[Problem]) -> None:
        self.raw = raw
        self.problems = problems

    def _text(self, name: str) -> tuple[Setting, str | None]:
        setting = next(s for s in SETTINGS if s.name == name)
        return setting, self.raw.get(setting.key)

    def _refuse(self, setting: Setting) -> None:
        hint = _TYPE_HINTS[setting.type].replace("KEY", setting.key)
        shown = quoted(self.raw.get(setting.key, ""))
        self.problems.append(Problem(setting.key, f"{setting.key} is {shown}, not {hint}."))

    def string(self, name: str) -> str:
        setting, text = self._text(name)
        return str(setting.default) if text is None else text

    def strings(self, name: str) -> list[str]:
        setting, text = self._text(name)
        if text is None:
            return list(setting.default) if isinstance(setting.default, list) else []
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            value = None
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return [str(item) for item in value]
        self._refuse(setting)
        return []

    def mapping(self, name: str) -> dict[str, Any]:
        setting, text = self._text(name)
        if text is None:
            return {}
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            value = None
        if isinstance(value, dict):
            return value
        self._refuse(setting)
        return {}

    def integer(self, name: str) -> int:
        """Digits only, as Pulumi's type check accepts them (no `1e3`, no spaces)."""
        setting, text = self._text(name)
        if text is None:
            return int(str(setting.default))
        if _INTEGER.fullmatch(text):
            return int(text)
        self._refuse(setting)
        return 0

    def boolean(self, name: str) -> bool:
        """Exactly `true` or `false`, as Pulumi's type check accepts them."""
        setting, text = self._text(name)
        if text is None:
            return bool(setting.default)
        if text in ("true", "false"):
            return text == "true"
        self._refuse(setting)
        return True


_INTEGER: Final = re.compile(r"[-+]?[0-9]{1,18}")
"""Pulumi's integer check, capped at 18 digits: a day count needs 4, and no longer number can
overflow the date arithmetic it feeds."""

_TYPE_HINTS: Final = {
    "array": (
        "a list of strings. In the stack file write it as a YAML list, or use "
        "`pulumi config set --path 'KEY[0]' VALUE`"
    ),
    "integer": "a whole number. Set it with `pulumi config set KEY 30`",
    "boolean": "true or false. Set it with `pulumi config set KEY true`",
    "object": (
        "a map. In the stack file write it as a YAML map, or use "
        "`pulumi config set --path 'KEY.NAME' VALUE`"
    ),
}
