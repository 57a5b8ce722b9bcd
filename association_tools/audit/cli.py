"""`python -m association audit STACK ... --outputs STACK=FILE`: the security audit as a command.

Exit status: 0 nothing undeclared, 3 findings (none failed), 1 some stack could not be audited
(sign-in, permissions, app not found, throttled out, unusable input; wins over findings),
2 usage error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Final

from association.clock import current_time
from association.exchange_online import endpoint as exchange_endpoint
from association.exchange_online.endpoint import DEFAULT_CLOUD
from association.exchange_online.rights import MANAGE_AS_APP
from association_tools import options
from association_tools.audit.compare import StackAudit, compare, exit_code
from association_tools.audit.exchange_side import (
    AUDIT_ROLE_GROUP,
    NOT_READ,
    ExchangeSide,
    audit_exchange,
)
from association_tools.audit.graph import DEFAULT_TENANT_SECONDS, GraphClient, GraphError
from association_tools.audit.inputs import Declared, declared, outputs_arguments
from association_tools.audit.live import READ_PERMISSIONS, read_tenant
from association_tools.audit.progress import Progress
from association_tools.audit.render import render_markdown, render_text, to_json
from association_tools.audit.signin import (
    TokenSource,
    azure_identity,
    exchange_identity,
    token_source,
)
from association_tools.audit.transport import Budget, Endpoint, check_endpoint
from association_tools.cli import UsageError, publish, run
from association_tools.project import Project, load_project
from association_tools.safe_read import InputError

PROG: Final = "python -m association audit"
DEFAULT_ENDPOINT: Final = "https://graph.microsoft.com"

DESCRIPTION: Final = f"""\
Read each stack's live application and service principal from Microsoft Graph
and report what the stack does not declare: credentials, federated credentials,
owners, permissions, grants, audience, URIs, public-client and API settings,
directory roles, token policies, look-alikes. Read-only: the identity needs
{", ".join(READ_PERMISSIONS)} (application permissions).
With --exchange-endpoint or --exchange-token-env it also reads Exchange Online
(read-only cmdlets): the EWS switch and allow list, our app's management role
assignments and role groups, its mailbox scope and application access policies; the identity
then needs {MANAGE_AS_APP} and the role group {AUDIT_ROLE_GROUP}.
Exit status: 0 clean, 3 findings, 1 error (wins over findings), 2 usage."""

EPILOG: Final = f"""example:
  pulumi stack output --json --stack contoso > contoso-outputs.json
  {PROG} contoso --outputs contoso=contoso-outputs.json \\
      --markdown "$GITHUB_STEP_SUMMARY" --json audit.json
  # with the Exchange Online side (signed in by azure-identity, or a token):
  {PROG} contoso --outputs contoso=contoso-outputs.json \\
      --exchange-endpoint {DEFAULT_CLOUD.endpoint}
"""


def main(argv: Sequence[str] | None = None, *, sleep: Callable[[float], None] = time.sleep) -> int:
    """Run the command; `sleep` waits out throttling (tests pass one that does not)."""
    return run(
        _parser(), lambda args: _command(args, sleep), sys.argv[1:] if argv is None else argv
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("stacks", nargs="*", metavar="STACK", help="default: every --outputs stack")
    parser.add_argument(
        "--outputs",
        action="append",
        default=[],
        metavar="STACK=FILE",
        help="the stack's `pulumi stack output --json`, saved to FILE (one per stack)",
    )
    options.add_project_dir(parser)
    parser.add_argument(
        "--token-env",
        metavar="VAR",
        help="use the bearer token in this environment variable (else sign in with azure-identity)",
    )
    parser.add_argument(
        "--graph-endpoint",
        default=DEFAULT_ENDPOINT,
        metavar="URL",
        help=f"the Microsoft Graph endpoint of the tenants' cloud (default {DEFAULT_ENDPOINT})",
    )
    parser.add_argument(
        "--exchange-endpoint",
        metavar="URL",
        help="also read Exchange Online at this endpoint of the tenants' cloud (default, "
        f"when --exchange-token-env is given: {DEFAULT_CLOUD.endpoint}); without either "
        "flag the Exchange side is not read, and the report says so",
    )
    parser.add_argument(
        "--exchange-token-env",
        metavar="VAR",
        help="use the bearer token for Exchange Online in this environment variable (else "
        "sign in with azure-identity)",
    )
    parser.add_argument(
        "--concurrency",
        type=options.at_least_one,
        default=8,
        metavar="N",
        help="tenants audited at once (default 8)",
    )
    parser.add_argument(
        "--tenant-timeout",
        type=_seconds,
        default=DEFAULT_TENANT_SECONDS,
        metavar="SECONDS",
        help="give up on a tenant after this long: every request, page, retry and wait "
        f"(default {DEFAULT_TENANT_SECONDS:g}, at most 3600)",
    )
    options.add_markdown(parser, "a summary")
    options.add_json(parser, "every stack's verdict")
    options.add_max_input_bytes(parser, "an input file")
    return parser


def _seconds(text: str) -> float:
    """`--tenant-timeout`: more than 0 and at most an hour."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 3600, not {text}")
    return seconds


def _command(args: argparse.Namespace, sleep: Callable[[float], None]) -> int:
    try:
        endpoint = check_endpoint(args.graph_endpoint)
        exchange_url = _exchange_endpoint(args)
        outputs = outputs_arguments(args.outputs)
    except ValueError as error:
        raise UsageError(str(error)) from None
    project = load_project(args.project_dir)
    stacks = list(dict.fromkeys(args.stacks)) or sorted(outputs)
    if not stacks:
        raise UsageError("name the stacks to audit, each with --outputs STACK=FILE")
    for stack in stacks:
        if stack not in project.stacks:
            raise UsageError(f"no stack file for {stack!r} in {project.directory}")
        if stack not in outputs:
            raise UsageError(f"stack {stack!r} needs --outputs {stack}=FILE")
    now = current_time()
    wanted = {stack: _declared(project, stack, outputs[stack], now, args) for stack in stacks}
    tenants = [stack.tenant_id for stack in wanted.values() if isinstance(stack, Declared)]
    tokens = token_source(
        args.token_env,
        "--token-env",
        lambda: azure_identity(endpoint),
        endpoint.url,
        tenants,
        args.concurrency,
    )
    exchange = None
    if exchange_url is not None:
        exchange_tokens = token_source(
            args.exchange_token_env,
            "--exchange-token-env",
            lambda: exchange_identity(exchange_url),
            exchange_url,
            tenants,
            args.concurrency,
        )
        exchange = ExchangeSide(exchange_url, exchange_tokens)
    progress = Progress(len(stacks), enabled=sys.stderr.isatty())

    def audit(stack: str) -> StackAudit:
        stack_wanted = wanted[stack]
        if isinstance(stack_wanted, StackAudit):
            result = stack_wanted
        else:  # the settings' notes go with any verdict, an error included: they may explain it
            live = _against_tenant(
                stack_wanted, tokens, endpoint, exchange, args.tenant_timeout, now, sleep
            )
            result = replace(live, notes=(*stack_wanted.notes, *live.notes))
        progress.advance()
        return result

    with ThreadPoolExecutor(max_workers=min(args.concurrency, len(stacks))) as pool:
        results = list(pool.map(audit, stacks))
    progress.finish()
    run_notes = () if exchange else (NOT_READ,)
    publish(
        results,
        partial(render_text, run_notes=run_notes),
        (args.markdown, partial(render_markdown, run_notes=run_notes)),
        (args.json, partial(to_json, run_notes=run_notes)),
    )
    return exit_code(results)


def _declared(
    project: Project, stack: str, outputs_file: Path, now: datetime, args: argparse.Namespace
) -> Declared | StackAudit:
    """What the stack declares, or its error verdict when there is nothing to compare."""
    try:
        return declared(project, stack, outputs_file, now, args.max_input_bytes)
    except InputError as error:
        return StackAudit(stack, error=str(error))


def _exchange_endpoint(args: argparse.Namespace) -> str | None:
    """The Exchange endpoint to read, or None when neither Exchange flag was given."""
    if args.exchange_endpoint is None and args.exchange_token_env is None:
        return None
    url = args.exchange_endpoint or DEFAULT_CLOUD.endpoint
    return exchange_endpoint.check_endpoint(
        url, "an Exchange Online endpoint (--exchange-endpoint)"
    )


def _against_tenant(
    wanted: Declared,
    tokens: TokenSource,
    endpoint: Endpoint,
    exchange: ExchangeSide | None,
    seconds: float,
    now: datetime,
    sleep: Callable[[float], None],
) -> StackAudit:
    """Read the live objects the stack's outputs name, in Graph and Exchange Online at once,
    within one budget, and compare them with `wanted`."""
    budget = Budget(seconds)
    if exchange is None:
        return _against_graph(wanted, tokens, endpoint, budget, sleep)
    with ThreadPoolExecutor(max_workers=1) as pool:
        reading = pool.submit(audit_exchange, exchange, wanted, budget, now, sleep)
        graph = _against_graph(wanted, tokens, endpoint, budget, sleep)
        side = reading.result()
    if graph.error:  # the app is not what the outputs say, or Graph broke: nothing to match
        return replace(graph, exchange_requests=side.requests)
    return replace(
        graph,
        findings=graph.findings + side.findings,
        error=f"Exchange Online: {side.error}" if side.error else None,
        exchange_requests=side.requests,
        notes=graph.notes + side.notes,
    )


def _against_graph(
    wanted: Declared,
    tokens: TokenSource,
    endpoint: Endpoint,
    budget: Budget,
    sleep: Callable[[float], None],
) -> StackAudit:
    """Read the live objects the stack's outputs name and compare them with `wanted`."""
    stack, tenant = wanted.stack, wanted.tenant_id
    client = GraphClient(endpoint, lambda: tokens(tenant), budget=budget, sleep=sleep)
    try:
        live = read_tenant(
            client,
            wanted.outputs.application_object_id,
            wanted.outputs.service_principal_object_id,
            wanted.display_name,
        )
    except GraphError as error:
        return StackAudit(stack, tenant, error=str(error), requests=client.sent)
    if live.application.app_id.lower() != wanted.outputs.client_id:
        return StackAudit(
            stack,
            tenant,
            error=f"application {live.application.id} has appId {live.application.app_id}, "
            f"not the clientId {wanted.outputs.client_id} of the stack's outputs",
            requests=client.sent,
        )
    return StackAudit(stack, tenant, compare(wanted, live), requests=client.sent)
