"""Preflight reports for people (text) and for pipelines (one JSON document).

The text opens with the fleet view (`fleet_view`); a stack's full block follows only when
asked for. Its fleet-wide notices are in the view, once, not in the block.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from association.certificates import rfc3339
from association.text import visible
from association_tools import jsondoc
from association_tools.preflight.fleet_view import counts_line, fleet_lines
from association_tools.preflight.report import Marker, StackReport, header
from association_tools.preflight.summary import fleet_order, summarize


def render_json(reports: Sequence[StackReport], now: datetime) -> str:
    """One JSON document: the summary first, the header, the instant, `ok`, one object per
    stack."""
    return jsondoc.dumps(
        {
            "summary": summarize(reports),
            "header": header(now),
            "evaluatedAt": rfc3339(now),
            "ok": not any(report.errors for report in reports),
            "stacks": reports,
        }
    )


def render_text(
    reports: Sequence[StackReport], now: datetime, detailed: Collection[str] | None = None
) -> str:
    """For people: the header, what was found, the fleet-wide notices once, one line per
    stack; then the full block (plan, PowerShell) of the stacks in `detailed` (None: all)."""
    summary = summarize(reports)
    lines = [header(now), *fleet_lines(summary, reports)]
    shown = [r for r in fleet_order(reports) if detailed is None or r.stack in detailed]
    for report in shown:
        lines.extend(["", *_stack_lines(report)])
    lines.extend(["", counts_line(summary, reports)])
    if len(shown) < len(reports):
        lines.append(
            "Each stack's certificates, plan and Exchange Online PowerShell: name it "
            "(`venv/bin/python -m association preflight STACK`), or add --plan for every stack."
        )
    # Each entry is one report line: whatever a value holds, it cannot start another line or
    # reach the terminal as a control sequence.
    return "\n".join(visible(line) for line in lines)


def _stack_lines(report: StackReport) -> list[str]:
    tenant = f", tenant {report.tenant_id}" if report.tenant_id else ""
    lines = [f"== {report.stack}: {report.own_status.upper()} ({report.file}{tenant})"]
    for label, messages in (
        ("error", [problem.message for problem in report.errors]),
        ("warning", [notice.message for notice in report.own_warnings]),
        ("note", [note.message for note in report.notes]),
    ):
        lines.extend(f"  {label:<8} {message}" for message in messages)
    for cert in report.certificates:
        validity = (
            f"EXPIRED {-cert.days_left} days ago"
            if cert.days_left < 0
            else f"{cert.days_left} days left"
        )
        hand = "" if cert.managed else "  (made by hand: left as it is)"
        lines.extend(
            [
                f"  certificate {cert.thumbprint}  {validity}{hand}",
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
                ("retain on delete", resource.retain_on_delete),
                (f"adopted: import {resource.import_id}", resource.import_id),
            )
            if on
        ]
        flags = f"  [{', '.join(options)}]" if options else ""
        lines.append(f"{indent}{resource.type}  {resource.name}{flags}")
        lines.extend(_aligned(resource.inputs, indent + "    "))
    lines.append("  outputs")
    lines.extend(_aligned(report.plan.outputs, "    "))
    for name, command in (report.exchange_online or {}).items():
        lines.append(f"  exchangeOnline.{name}  (Exchange Online PowerShell)")
        lines.extend(f"      {line}" for line in command.splitlines())
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
