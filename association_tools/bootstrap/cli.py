"""`python -m association bootstrap TENANTS`: flags, sign-in, the tenants in parallel, the lines.

Exit status: 0 every tenant ready, 1 some tenant is not (it waits for consent, an app to
choose, or has an error, each named with its fix), 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Final

from association.clock import current_time
from association.exchange_online.client import ExchangeAdminClient
from association.exchange_online.endpoint import DEFAULT_CLOUD
from association.exchange_online.endpoint import check_endpoint as exchange_endpoint
from association.exchange_online.patience import Limits
from association.identifiers import is_guid
from association.text import visible
from association_tools import cli, jsondoc, options
from association_tools.audit.exchange import BudgetTokens
from association_tools.audit.transport import check_endpoint
from association_tools.bootstrap.needs import ROLES, Role
from association_tools.bootstrap.run import STATUSES, Context, Outcome, bootstrap_tenant
from association_tools.bootstrap.signin import interactive, sign_in
from association_tools.bootstrap.state import Record, State
from association_tools.bootstrap.tenants import TenantEntry, TenantsError, read_tenants
from association_tools.cli import UsageError
from association_tools.preflight.stacks import check_stacks
from association_tools.project import load_project
from association_tools.safe_read import InputError

PROG: Final = "python -m association bootstrap"
DEFAULT_GRAPH: Final = "https://graph.microsoft.com"
EXAMPLES: Final = f"""examples:
  venv/bin/python {PROG[7:]} tenants.csv --deploy-app-id <GUID> \\
      --preview-app-id <GUID> --audit-app-id <GUID> --dry-run
                              what it would do in each tenant, reading only
  venv/bin/python {PROG[7:]} tenants.csv --deploy-app-id <GUID> \\
      --preview-app-id <GUID> --audit-app-id <GUID> --device-code
                              do it, signed in once with a device code
  venv/bin/python {PROG[7:]} tenants.csv --deploy-app-id <GUID> --resume
                              go on after a stopped run (bootstrap-state.json)"""


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="For each tenant of TENANTS (CSV or YAML: stack, tenantId, certificate, "
        "exchange), signed in as an administrator: create the pipeline apps' service principals "
        "and grant their permissions (admin consent), find an app made by hand from Mimecast's "
        "guide, make the deploy app its owner, give the deploy and preview apps their Exchange "
        "role groups where the stack manages Exchange, write Pulumi.<stack>.yaml (never losing "
        "a line), then run preflight. One line per tenant. Exit status: 0 all ready, 1 some "
        "tenant is not, 2 usage error.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("tenants", type=Path, metavar="TENANTS", help="the tenants file")
    for role in ROLES:
        parser.add_argument(
            f"--{role}-app-id",
            type=_guid,
            required=role == "deploy",
            metavar="GUID",
            help=f"the {role} pipeline app's client ID (docs/pipelines.md step 1)"
            + ("" if role == "deploy" else "; unset: that app is left out"),
        )
    parser.add_argument(
        "--owner",
        action="append",
        type=_guid,
        default=[],
        metavar="GUID",
        help="another owner of every stack's app besides the deploy app (repeatable)",
    )
    parser.add_argument(
        "--certificate",
        action="append",
        default=[],
        metavar="PATH",
        help="Mimecast's certificate for tenants the file gives none (repeatable)",
    )
    parser.add_argument("--dry-run", action="store_true", help="read only; say what would be done")
    parser.add_argument(
        "--resume", action="store_true", help="skip the stacks the state file says are ready"
    )
    parser.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="the progress record (default: bootstrap-state.json in the project)",
    )
    parser.add_argument(
        "--jobs", type=options.at_least_one, default=4, metavar="N", help="tenants at once (4)"
    )
    parser.add_argument(
        "--graph-endpoint", default=DEFAULT_GRAPH, metavar="URL", help=f"default {DEFAULT_GRAPH}"
    )
    parser.add_argument(
        "--exchange-endpoint",
        default=DEFAULT_CLOUD.endpoint,
        metavar="URL",
        help=f"Exchange Online's admin endpoint of the tenants' cloud (default "
        f"{DEFAULT_CLOUD.endpoint}); used only for tenants with exchange: manage",
    )
    parser.add_argument(
        "--token-env",
        metavar="VAR",
        help="Graph tokens in this environment variable (one token, or a JSON object of tenant "
        "ID to token) instead of signing in",
    )
    parser.add_argument("--exchange-token-env", metavar="VAR", help="the same for Exchange Online")
    parser.add_argument(
        "--device-code", action="store_true", help="sign in with a device code, not a browser"
    )
    parser.add_argument(
        "--client-id",
        type=_guid,
        metavar="GUID",
        help="the public client app to sign in with (docs/bootstrap.md: the Azure CLI's, the "
        "default, may not get every permission)",
    )
    parser.add_argument(
        "--home-tenant",
        type=_guid,
        metavar="GUID",
        help="the tenant you sign in at (a partner's, for GDAP); default: any",
    )
    parser.add_argument(
        "--tenant-timeout", type=float, default=300.0, metavar="SECONDS", help="per tenant (300)"
    )
    options.add_json(parser, "every tenant's outcome")
    options.add_project_dir(parser)
    return parser


def _guid(text: str) -> str:
    if not is_guid(text):
        raise argparse.ArgumentTypeError(f"{visible(repr(text))} is not a GUID")
    return text.lower()


def bootstrap(args: argparse.Namespace, sleep: Callable[[float], None] = time.sleep) -> int:
    project_dir = args.project_dir.resolve()
    try:
        endpoint = check_endpoint(args.graph_endpoint)
        exchange_url = exchange_endpoint(args.exchange_endpoint, "--exchange-endpoint")
        entries = read_tenants(args.tenants, project_dir, args.certificate)
        state = State(args.state or project_dir / "bootstrap-state.json")
    except TenantsError as error:
        for problem in error.problems:
            print(visible(problem), file=sys.stderr)
        raise UsageError(
            f"{len(error.problems)} problem(s) in {visible(str(args.tenants))}, each on its line "
            "above; nothing was done"
        ) from None
    except (ValueError, InputError) as error:
        raise UsageError(str(error)) from None
    apps: dict[Role, str] = {
        role: app_id for role in ROLES if (app_id := getattr(args, f"{role}_app_id"))
    }
    credential = interactive(args, endpoint.authority)
    graph_token = sign_in(args.token_env, "--token-env", credential, f"{endpoint.url}/.default")
    exchange = None
    if any(entry.exchange for entry in entries):
        exchange_token = sign_in(
            args.exchange_token_env, "--exchange-token-env", credential, f"{exchange_url}/.default"
        )
        exchange = _exchange_clients(exchange_url, exchange_token, args.tenant_timeout)
    context = Context(
        endpoint,
        graph_token,
        apps,
        tuple(args.owner),
        project_dir,
        args.dry_run,
        args.tenant_timeout,
        exchange,
        sleep,
    )

    def one(entry: TenantEntry) -> Outcome:
        done = state.ready(entry.stack, entry.tenant_id) if args.resume else None
        if done is not None and (project_dir / f"Pulumi.{entry.stack}.yaml").exists():
            return Outcome(entry.stack, entry.tenant_id, "ready", f"{done.detail} (done before)")
        outcome = bootstrap_tenant(entry, context)
        if not args.dry_run:
            state.keep(Record(entry.stack, entry.tenant_id, outcome.status, outcome.detail))
        return outcome

    with ThreadPoolExecutor(max_workers=min(args.jobs, len(entries))) as pool:
        outcomes = list(pool.map(one, entries))
    if not args.dry_run:
        outcomes = _preflight(outcomes, project_dir, state)
    cli.publish(outcomes, partial(render_text, each_change=args.dry_run), (args.json, render_json))
    return 0 if all(outcome.status == "ready" for outcome in outcomes) else 1


def _exchange_clients(
    url: str, tokens: Callable[[str], str], seconds: float
) -> Callable[[str], ExchangeAdminClient]:
    return lambda tenant: ExchangeAdminClient(
        url, tenant, BudgetTokens(tokens), Limits(deadline=seconds), who="the administrator"
    )


def _preflight(outcomes: list[Outcome], project_dir: Path, state: State) -> list[Outcome]:
    """Each stack file the run left, checked as the pipelines check it (`--require-owners`):
    a tenant is ready only if its stack would deploy."""
    checked = [o.stack for o in outcomes if o.status != "error" and o.stack_file]
    if not checked:
        return outcomes
    reports = {
        report.stack: report
        for report in check_stacks(load_project(project_dir), checked, current_time(), 1, True)
    }
    result = []
    for outcome in outcomes:
        report = reports.get(outcome.stack)
        checked_outcome = outcome
        if report is not None and report.errors and outcome.status == "ready":
            first = report.errors[0]
            checked_outcome = replace(
                outcome, status="error", detail=f"preflight: {first.code}: {first.message}"
            )
            state.keep(Record(outcome.stack, outcome.tenant_id, "error", checked_outcome.detail))
        result.append(checked_outcome)
    return result


def render_text(outcomes: Sequence[Outcome], each_change: bool = False) -> str:
    """A line of counts, then one line per tenant, worst first, each with what it needs;
    `each_change` (a dry run) lists what it would do, a line each."""
    counts = {status: sum(o.status == status for o in outcomes) for status in STATUSES}
    head = f"{len(outcomes)} tenant{'s' if len(outcomes) != 1 else ''}: " + ", ".join(
        f"{count} {status}" for status, count in counts.items() if count
    )
    width = max((len(o.stack) for o in outcomes), default=0)
    lines = [head]
    for outcome in sorted(outcomes, key=lambda o: STATUSES.index(o.status)):
        did = f"; {len(outcome.changes)} changes" if outcome.changes else ""
        file = f" [stack file: {outcome.stack_file}]" if outcome.stack_file else ""
        lines.append(
            visible(f"{outcome.status:<13} {outcome.stack:<{width}}  {outcome.detail}{did}{file}")
        )
        lines += [f"    note: {visible(note)}" for note in outcome.notes]
        if each_change:
            lines += [f"    {visible(change)}" for change in outcome.changes]
    return "\n".join(lines)


def render_json(outcomes: Sequence[Outcome]) -> str:
    """`{schema, tenants: [{stack, tenantId, status, detail, changes, notes, stackFile}]}`."""
    return jsondoc.dumps({"schema": 1, "tenants": list(outcomes)}) + "\n"


def main(argv: Sequence[str], *, sleep: Callable[[float], None] = time.sleep) -> int:
    """Run the bootstrap; see the module docstring for the exit status."""
    return cli.run(parser(), lambda args: bootstrap(args, sleep), argv)
