"""The fleet view of a preflight: one line (or table row) per stack, the shared notices once.

For 300 stacks this is about 300 lines, where a block per stack was about 18,000: the plan and
PowerShell of each stack are the detail a reader asks for by naming the stack (`render`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final

from association.certificates import rfc3339
from association.problems import Notice, Problem
from association_tools.escape import md_code, md_text
from association_tools.preflight.report import CertificateReport, StackReport
from association_tools.preflight.summary import (
    Summary,
    fleet_order,
    soonest,
    worst,
)

STACK_COLUMN: Final = 40
"""The widest the stack column grows; a longer name pushes its line's other columns on."""
ICONS: Final = {"errors": "❌", "warnings": "⚠️", "ok": "✅"}


def counts_line(summary: Summary, reports: Sequence[StackReport]) -> str:
    """What preflight found, in one line: counts of errors, own warnings, ok."""
    counts = summary.counts_besides_fleet_wide
    line = (
        f"{summary.stacks} stack{'s' if summary.stacks != 1 else ''} checked: "
        f"{counts['errors']} with errors, {counts['warnings']} with warnings, {counts['ok']} ok"
    )
    if summary.fleet_wide:
        line += " (besides the notices every stack shares, listed once)"
    failed = [report.stack for report in reports if report.errors]
    return line + "." + (f" Errors in: {', '.join(failed)}." if failed else "")


def fleet_lines(summary: Summary, reports: Sequence[StackReport]) -> list[str]:
    """The notices every stack shares, then one line per stack, the ones to act on first."""
    lines = [counts_line(summary, reports)]
    if summary.fleet_wide:
        lines += ["", "Notices every stack gets alike (shown once, not per stack):"]
        lines += [
            f"  warning  {notice.code} ({_share(notice.stacks, summary.stacks)}): {notice.message}"
            for notice in summary.fleet_wide
        ]
    ordered = fleet_order(reports)
    width = min(max((len(report.stack) for report in ordered), default=0), STACK_COLUMN)
    expiry = max((len(_expiry(soonest(report))) for report in ordered), default=0)
    lines += ["", "Stacks: errors first, then warnings of their own, then ok:"]
    for report in ordered:
        problem = _worst_text(worst(report))
        lines.append(
            f"  {report.own_status:<8}  {report.stack:<{width}}  "
            f"{_expiry(soonest(report)):<{expiry}}  {problem}".rstrip()
        )
    return lines


def render_markdown(summary: Summary, reports: Sequence[StackReport], now: datetime) -> str:
    """The same for a job summary: one table row per stack; every value escaped."""
    lines = [
        "## Mimecast association preflight",
        "",
        md_text(f"Offline; certificates judged at {rfc3339(now)}. ")
        + md_text(counts_line(summary, reports)),
    ]
    if summary.fleet_wide:
        lines += ["", "Notices every stack gets alike:", ""]
        lines += [
            f"- {md_code(notice.code)} ({_share(notice.stacks, summary.stacks)}): "
            f"{md_text(notice.message)}"
            for notice in summary.fleet_wide
        ]
    lines += [
        "",
        "| Stack | Status | Soonest certificate | Worst problem |",
        "| --- | --- | --- | --- |",
    ]
    for report in fleet_order(reports):
        found = worst(report)
        problem = (
            f"{md_code(found[0].code)}: {md_text(found[0].message)}{_more(found, md_code)}"
            if found
            else "—"
        )
        status = report.own_status
        lines.append(
            f"| {md_code(report.stack)} | {ICONS[status]} {status} "
            f"| {md_text(_expiry(soonest(report)))} | {problem} |"
        )
    return "\n".join(lines) + "\n"


def _share(count: int, total: int) -> str:
    if total == 1:
        return "this stack"
    return f"all {total} stacks" if count == total else f"{count} of {total} stacks"


def _expiry(cert: CertificateReport | None) -> str:
    if cert is None:
        return "no certificate"
    day = cert.not_after[:10]
    if cert.days_left < 0:
        return f"expired {day} ({-cert.days_left} days ago)"
    return f"expires {day} ({cert.days_left} days left)"


def _worst_text(found: tuple[Problem | Notice, ...]) -> str:
    if not found:
        return ""
    return f"{found[0].code}: {found[0].message}{_more(found, str)}"


def _more(found: tuple[Problem | Notice, ...], show: Callable[[str], str]) -> str:
    """The codes of the stack's other errors (or own warnings), so none goes unseen."""
    others = list(dict.fromkeys(item.code for item in found[1:]))
    return f" (also: {', '.join(show(other) for other in others)})" if others else ""
