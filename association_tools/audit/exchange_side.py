"""One tenant's Exchange Online step: beside Graph's, within the tenant's one budget.

The tenant's deadline and byte budget are one for both services, read at the same time: the
Exchange client has the tenant's deadline and reserves half of its bytes (`EXCHANGE_SHARE`)
up front, handing back what it did not read. Every failure of
Exchange (refusal, throttling, a broken or oversized answer, the deadline) is that stack's
error, with the Graph findings kept beside it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from association.exchange_online.declare import scope_name
from association.exchange_online.errors import ExchangeError
from association.problems import Notice
from association_tools.audit.compare import Finding
from association_tools.audit.exchange import (
    AUDIT_ROLE_GROUP,
    ExchangeTarget,
    exchange_client,
    read_exchange,
)
from association_tools.audit.exchange_findings import exchange_findings
from association_tools.audit.inputs import Declared
from association_tools.audit.signin import TokenSource
from association_tools.audit.transport import Budget, GraphError, Watchdog

__all__ = ["AUDIT_ROLE_GROUP", "ExchangeResult", "ExchangeSide", "audit_exchange"]

EXCHANGE_SHARE: Final = 2
"""Exchange may read 1/2 of the tenant's bytes: its largest answer, every role assignment of
the organization, is some hundreds of KB in a large one."""
NOT_READ: Final = Notice(
    "exchange-not-read",
    None,
    "Exchange Online not read (no --exchange-endpoint or --exchange-token-env): EwsEnabled, "
    "EwsAllowedAppIDs, the app's Exchange role assignments and role groups, its mailbox scope "
    "and application access policies are not checked",
)


@dataclass(frozen=True)
class ExchangeSide:
    """Where Exchange Online is and how to sign in to it (`--exchange-endpoint`, `-token-env`)."""

    endpoint: str
    tokens: TokenSource = field(repr=False)


@dataclass(frozen=True)
class ExchangeResult:
    findings: tuple[Finding, ...] = ()
    notes: tuple[Notice, ...] = ()
    error: str | None = None
    requests: int = 0


def audit_exchange(
    side: ExchangeSide,
    wanted: Declared,
    budget: Budget,
    now: datetime,
    sleep: Callable[[float], None],
) -> ExchangeResult:
    """Read the tenant's Exchange side and judge it against `wanted`."""
    outputs = wanted.outputs
    scope = scope_name(wanted.stack) if wanted.mailbox_group else None
    reserved = budget.bytes_left // EXCHANGE_SHARE
    budget.bytes_left -= reserved
    watchdog = Watchdog()
    client = exchange_client(
        side.endpoint, wanted.tenant_id, side.tokens, budget, reserved, sleep, watchdog
    )
    target = ExchangeTarget(
        wanted.tenant_id,
        outputs.client_id,
        outputs.service_principal_object_id,
        scope,
        wanted.mailbox_group,
        wanted.exchange_manage,
    )
    timer = threading.Timer(max(budget.remaining(), 0.0), watchdog.fire)
    timer.daemon = True
    timer.start()
    try:
        live = read_exchange(client, target)
    except (ExchangeError, GraphError) as error:  # GraphError: the tenant's sign-in failed
        message = (
            f"no complete answer within the tenant's {budget.seconds:g} s (--tenant-timeout): "
            "stopped waiting"
            if watchdog.fired or budget.remaining() <= 0  # the client's own deadline, or ours
            else str(error)
        )
        return ExchangeResult(error=message, requests=client.sent)
    finally:
        timer.cancel()
        watchdog.close()
        budget.bytes_left += max(0, reserved - client.received)
    findings = tuple(
        Finding(severity, "exchange", code, message)
        for severity, code, message in exchange_findings(target, live, now)
    )
    return ExchangeResult(findings, live.notes, requests=client.sent)
