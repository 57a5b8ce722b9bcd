"""Every stack, each on its own: in this process, or in spawned worker processes.

Whatever goes wrong with one stack (hostile input, a bug, a worker that dies) is that stack's
error; the other stacks are still checked and reported.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from datetime import datetime
from functools import partial

from association.identifiers import NIL_GUID, TENANT_KEY
from association.problems import Notice, Problem
from association.text import visible
from association_tools.preflight.check import check_stack
from association_tools.preflight.report import StackReport
from association_tools.project import Project, one_line


def check_stacks(
    project: Project,
    stacks: Sequence[str],
    now: datetime,
    jobs: int = 1,
    require_owners: bool = False,
    deployer: str | None = None,
) -> list[StackReport]:
    """Every stack's report, in the order given; each stack is checked on its own either way,
    and whatever goes wrong with one stack is that stack's error, never the others'.

    Workers are spawned, not forked: a fresh interpreter inherits no thread, lock or event
    loop of this one, so a worker cannot deadlock on state copied mid-use. Each imports the
    SDK once (about 0.7 s) and then checks its share of the stacks.
    """
    check = partial(
        _check_alone, project, now=now, require_owners=require_owners, deployer=deployer
    )
    if jobs == 1 or len(stacks) < 2:
        return shared_tenants([check(stack) for stack in stacks])
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(jobs, len(stacks)), mp_context=context) as pool:
        futures = {stack: pool.submit(check, stack) for stack in stacks}
        return shared_tenants(
            [_collect(future, project, stack) for stack, future in futures.items()]
        )


def shared_tenants(reports: list[StackReport]) -> list[StackReport]:
    """A warning on every stack that names a tenant another stack names too: two stacks for one
    tenant create two applications, or take turns rewriting one."""
    by_tenant: dict[str, list[str]] = {}
    for report in reports:
        if report.tenant_id not in (None, NIL_GUID):  # the placeholder is an error already
            by_tenant.setdefault(report.tenant_id.lower(), []).append(report.stack)
    return [
        replace(report, warnings=(*report.warnings, _shared(report.tenant_id, stacks)))
        if report.tenant_id and len(stacks := by_tenant.get(report.tenant_id.lower(), [])) > 1
        else report
        for report in reports
    ]


def _shared(tenant: str, stacks: list[str]) -> Notice:
    names = ", ".join(visible(stack) for stack in stacks)
    return Notice(
        "tenant-shared",
        TENANT_KEY,
        f"Stacks {names} all manage tenant {tenant}: one stack per tenant, or each creates its "
        "own application (or adopts the same one) and they undo each other's changes. Keep one "
        "and retire the others (docs/retirement.md).",
    )


def _check_alone(
    project: Project, stack: str, now: datetime, require_owners: bool, deployer: str | None
) -> StackReport:
    try:
        return check_stack(project, stack, now, require_owners, deployer)
    except Exception as error:  # a fault with this stack's input is this stack's error
        return _failed(
            project, stack, f"preflight stopped: {type(error).__name__}: {one_line(error)}"
        )


def _collect(future: Future[StackReport], project: Project, stack: str) -> StackReport:
    try:
        return future.result()
    except Exception as error:  # the worker process itself died (BrokenProcessPool)
        return _failed(
            project,
            stack,
            f"the worker process checking it stopped ({type(error).__name__}); check it "
            f"alone with `python -m association preflight {visible(stack)}`",
        )


def _failed(project: Project, stack: str, message: str) -> StackReport:
    file = visible(project.stacks[stack].relative_to(project.directory).as_posix())
    return StackReport(
        visible(stack),
        file,
        None,
        errors=(Problem("preflight-stopped", None, f"{file}: {message}."),),
    )
