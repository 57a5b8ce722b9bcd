"""What a rule is, what it sees and what it finds: the types every rule module shares."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class RuleContext:
    """What a rule may depend on besides properties: its policy config and the clock."""

    config: Mapping[str, Any] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class StackResource:
    """One resource of the stack as a stack policy sees it (outputs, after the engine's steps)."""

    type: str
    urn: str
    props: Mapping[str, Any]
    property_dependencies: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Input property name -> URNs of the resources its value came from."""


@dataclass(frozen=True)
class Violation:
    """One broken guardrail, as data until the pack hands the engine its message.

    Tests and tools tell violations apart by `code` and `reason`, never by `message`.
    """

    code: str
    """The rule's code: its policy name (kebab-case, stable)."""
    reason: str
    """Which of the rule's checks failed (kebab-case, stable within the rule)."""
    message: str
    """What the engine shows: what is wrong and how to fix it."""
    facts: Mapping[str, object] = field(default_factory=dict)
    """The values the check found, keyed by the property they come from where there is one."""
    urn: str | None = None
    """The resource a stack rule blames; None for resource rules (the engine knows it)."""


ResourceCheck = Callable[[str, Mapping[str, Any], RuleContext], list[Violation]]
StackCheck = Callable[[Sequence[StackResource], RuleContext], list[Violation]]


@dataclass(frozen=True)
class ResourceRule:
    """A rule over one resource at a time (a pulumi-policy `ResourceValidationPolicy`)."""

    code: str
    description: str
    check: ResourceCheck
    config_schema: Mapping[str, Mapping[str, Any]] | None = None
    """JSON-schema `properties` of the policy's config (None: the policy takes no config)."""


@dataclass(frozen=True)
class StackRule:
    """A rule over the whole stack (a pulumi-policy `StackValidationPolicy`)."""

    code: str
    description: str
    check: StackCheck
    config_schema: Mapping[str, Mapping[str, Any]] | None = None
