"""The security audit at MSP scale: N tenants against a fake Graph and a fake Exchange Online.

    python benchmarks/audit_scale.py [--tenants N] [--latency SECONDS] [--concurrency C ...]
        [--with-policy] [--without-exchange]

Builds a temporary copy of the project with N stacks (default 300), each with its own tenant,
application, service principal and certificate, serves a fake Microsoft Graph
(tests/fakegraph.py) and a fake Exchange Online admin endpoint (tests/fake_exchange.py) on
127.0.0.1, each waiting `--latency` (default 0.1 s) before answering each HTTP request, runs
`python -m association audit` over every stack in this process with both, and prints the
wall time, the Graph requests per tenant (HTTP requests: batches, pages, retries) with the
GETs inside them, and the Exchange requests per tenant (one per cmdlet and page).
`--without-exchange` audits Graph alone, as without `--exchange-endpoint`. `--with-policy`
gives every tenant a token lifetime policy (of another app): what a tenant that holds
policies costs, one more batch for the policy's `appliesTo`. Loopback only; it stops by
itself.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from certfactory import der, make_certificate, pem  # noqa: E402
from fake_exchange import TOKEN as EXCHANGE_TOKEN  # noqa: E402
from fake_exchange import FakeExchange, FakeOrganization  # noqa: E402
from fake_exchange import serve as serve_exchange  # noqa: E402
from fakegraph import TOKEN, FakeGraph, deployed_tenant, serve  # noqa: E402

from association_tools.audit import cli as audit  # noqa: E402
from association_tools.audit.live import requests_for  # noqa: E402

OWNER = "0b5e7a11-0000-4000-8000-000000000001"
TOKEN_VARIABLE = "AUDIT_SCALE_TOKEN"
EXCHANGE_TOKEN_VARIABLE = "AUDIT_SCALE_EXCHANGE_TOKEN"
OTHER_EWS_APP = "11111111-2222-4333-8444-555555555555"


def build(
    directory: Path, tenants: int, graph: FakeGraph, exchange: FakeExchange, with_policy: bool
) -> list[str]:
    """Stack files, certificates and outputs for `tenants` stacks, and their tenants in `graph`
    and `exchange` (EWS on, the app allow-listed beside another). Returns the `--outputs`
    arguments."""
    shutil.copy(ROOT / "__main__.py", directory)
    shutil.copy(ROOT / "Pulumi.yaml", directory)
    (directory / "certs").mkdir()
    outputs = []
    for index in range(tenants):
        name = f"tenant-{index:04d}"
        ids = [str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{part}.{name}.example")) for part in "tacs"]
        tenant, app, client, sp = ids
        cert = make_certificate(f"Mimecast {name}", serial=index + 1)
        (directory / "certs" / f"{name}.pem").write_bytes(pem(cert))
        display_name = f"Mimecast Cloud Synchronization ({name})"
        (directory / f"Pulumi.{name}.yaml").write_text(
            "config:\n"
            f"  azuread:tenantId: {tenant}\n"
            f"  mimecast-association:displayName: {display_name}\n"
            f"  mimecast-association:certificates: [certs/{name}.pem]\n"
            f"  mimecast-association:owners: [{OWNER}]\n",
            encoding="utf-8",
        )
        document = {
            "clientId": client,
            "applicationObjectId": app,
            "servicePrincipalObjectId": sp,
            "tenantId": tenant,
        }
        (directory / f"{name}.outputs.json").write_text(json.dumps(document), encoding="utf-8")
        outputs.append(f"--outputs={name}={directory / f'{name}.outputs.json'}")
        tenant = deployed_tenant(app, client, sp, OWNER, der(cert), display_name)
        if with_policy:
            policy = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"policy.{name}.example"))
            tenant.policies["tokenLifetimePolicies"] = [
                {"id": policy, "displayName": "Web apps", "appliesTo": [OWNER]}
            ]
        graph.add(tenant)
        exchange.tenants[ids[0]] = FakeOrganization(
            ews_enabled=True, allowed=[OTHER_EWS_APP, client]
        )
    return outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--with-policy", action="store_true")
    parser.add_argument("--without-exchange", action="store_true")
    args = parser.parse_args()
    first_batch = len(requests_for(OWNER, OWNER, "x"))
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        graph = FakeGraph(latency=args.latency)
        exchange = FakeExchange(latency=args.latency)
        outputs = build(directory, args.tenants, graph, exchange, args.with_policy)
        with (
            serve(graph) as endpoint,
            serve_exchange(exchange) as exchange_endpoint,
            contextlib.chdir(directory),
        ):
            for concurrency in args.concurrency:
                graph.batches = 0
                exchange.calls.clear()
                report = directory / "audit.json"
                argv = [
                    *outputs,
                    f"--graph-endpoint={endpoint}",
                    f"--token-env={TOKEN_VARIABLE}",
                    f"--concurrency={concurrency}",
                    f"--json={report}",
                ]
                if not args.without_exchange:
                    argv += [
                        f"--exchange-endpoint={exchange_endpoint}",
                        f"--exchange-token-env={EXCHANGE_TOKEN_VARIABLE}",
                    ]
                with _token(), contextlib.redirect_stdout(io.StringIO()):
                    started = time.perf_counter()
                    code = audit.main(argv)
                    elapsed = time.perf_counter() - started
                stacks = json.loads(report.read_text(encoding="utf-8"))["stacks"]
                per_tenant = sorted({stack["requests"] for stack in stacks})
                exchange_per_tenant = sorted({str(stack["exchangeRequests"]) for stack in stacks})
                print(
                    f"{args.tenants} tenants, {args.latency * 1000:.0f} ms per request, "
                    f"concurrency {concurrency}: exit {code}, {elapsed:.2f} s wall "
                    f"({elapsed / args.tenants * 1000:.1f} ms a tenant), Graph requests per "
                    f"tenant {per_tenant}, {graph.batches} in all; {first_batch} GETs in the "
                    f"first batch; Exchange requests per tenant {exchange_per_tenant}, "
                    f"{len(exchange.calls)} in all"
                    + (", every tenant with a token lifetime policy" if args.with_policy else "")
                )
    return 0


@contextlib.contextmanager
def _token() -> Iterator[None]:
    """The fakes' tokens in the environment, for the `--...token-env` flags, during one run."""
    os.environ[TOKEN_VARIABLE] = TOKEN
    os.environ[EXCHANGE_TOKEN_VARIABLE] = EXCHANGE_TOKEN
    try:
        yield
    finally:
        del os.environ[TOKEN_VARIABLE], os.environ[EXCHANGE_TOKEN_VARIABLE]


if __name__ == "__main__":
    sys.exit(main())
