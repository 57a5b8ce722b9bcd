"""Policy pack `mimecast-association-guardrails`: `pulumi preview --policy-pack policy`.

The rules live in `rules.py` as plain functions; this file only wraps each one in a
pulumi-policy object and, when the Pulumi CLI runs the pack (`__name__ == "__main__"`),
serves them. Constructing `PolicyPack` starts a gRPC server and blocks, so importing
this file under another name (as the pack's tests do) builds the policies only.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rules  # beside this file (the CLI also puts the pack's directory first on sys.path)

PACK_NAME = "mimecast-association-guardrails"
ENFORCEMENT_LEVEL = EnforcementLevel.MANDATORY


def plain(value: Any) -> Any:
    """Properties without pulumi-policy's unknown-checking proxies, unknowns kept as markers.

    The engine's proxies raise `UnknownValueError` when a policy reads an unknown value,
    which would turn the whole policy into a "can't run during preview" notice; the rules
    instead skip exactly the unknown parts and check the rest.
    """
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key in value:
            try:
                result[key] = plain(value[key])
            except UnknownValueError as error:
                result[key] = error.unknown_type_sentinel
        return result
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError as error:
                items.append(error.unknown_type_sentinel)
        return items
    return value


def _context(config: Mapping[str, Any]) -> rules.RuleContext:
    return rules.RuleContext(config=plain(config), now=datetime.now(UTC))


def _config_schema(rule: rules.ResourceRule | rules.StackRule) -> PolicyConfigSchema | None:
    if rule.config_schema is None:
        return None
    return PolicyConfigSchema(properties={k: dict(v) for k, v in rule.config_schema.items()})


def resource_policy(rule: rules.ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        context = _context(args.get_config())
        for message in rule.check(args.resource_type, plain(args.props), context):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        config_schema=_config_schema(rule),
    )


def stack_policy(rule: rules.StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [
            rules.StackResource(
                type=resource.resource_type,
                urn=resource.urn,
                props=plain(resource.props),
                property_dependencies={
                    key: [dependency.urn for dependency in dependencies]
                    for key, dependencies in resource.property_dependencies.items()
                },
            )
            for resource in args.resources
        ]
        for violation in rule.check(resources, _context(args.get_config())):
            report_violation(violation.message, violation.urn)

    return StackValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        config_schema=_config_schema(rule),
    )


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    *(resource_policy(rule) for rule in rules.RESOURCE_RULES),
    *(stack_policy(rule) for rule in rules.STACK_RULES),
]


def main() -> None:
    """Serve the pack to the Pulumi CLI (blocks until the CLI is done)."""
    PolicyPack(
        name=PACK_NAME,
        enforcement_level=ENFORCEMENT_LEVEL,
        policies=list(POLICIES),
        description=(
            "Guardrails for mimecast-association: only full_access_as_app, single tenant, "
            "owners, no secrets, valid certificates, one well-aimed app role assignment."
        ),
    )


if __name__ == "__main__":
    main()
