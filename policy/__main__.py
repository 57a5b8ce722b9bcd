"""Policy pack `mimecast-association-guardrails`: `pulumi preview --policy-pack policy`.

The rules live in the package `rules/` (one rule a module, listed in `rules/registry.py`)
as plain functions that return violations as data; this file only wraps each one in a
pulumi-policy object, turns each violation into the engine's message and URN (the one
place a violation becomes text) and, when the Pulumi CLI runs the pack
(`__name__ == "__main__"`), serves them. Constructing `PolicyPack` starts a gRPC server
and blocks, so importing this file under another name (as the pack's tests do) builds
the policies only.
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

# The package `rules/` beside this file. The CLI runs the pack as
# `python -u -m pulumi.policy ENGINE PACK_DIR` (pulumi-language-python, RunPlugin), whose
# `runpy.run_path(program, run_name="__main__")` puts the pack's directory first on sys.path;
# the pack's tests load this file by path, so it puts the directory there itself.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rules import registry
from rules.model import ResourceRule, RuleContext, StackResource, StackRule

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


def _context(config: Mapping[str, Any]) -> RuleContext:
    return RuleContext(config=plain(config), now=datetime.now(UTC))


def _config_schema(rule: ResourceRule | StackRule) -> PolicyConfigSchema | None:
    if rule.config_schema is None:
        return None
    return PolicyConfigSchema(properties={k: dict(v) for k, v in rule.config_schema.items()})


def resource_policy(rule: ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        context = _context(args.get_config())
        for violation in rule.check(args.resource_type, plain(args.props), context):
            report_violation(violation.message, None)

    return ResourceValidationPolicy(
        name=rule.code,
        description=rule.description,
        validate=validate,
        config_schema=_config_schema(rule),
    )


def stack_policy(rule: StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [
            StackResource(
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
        name=rule.code,
        description=rule.description,
        validate=validate,
        config_schema=_config_schema(rule),
    )


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    *(resource_policy(rule) for rule in registry.RESOURCE_RULES),
    *(stack_policy(rule) for rule in registry.STACK_RULES),
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
