"""The security audit at MSP scale: N tenants against a fake Graph with real-world latency.

    python benchmarks/audit_scale.py [--tenants N] [--latency SECONDS] [--concurrency C ...]

Builds a temporary copy of the project with N stacks (default 300), each with its own tenant,
application, service principal and certificate, serves a fake Microsoft Graph on 127.0.0.1
(tests/fakegraph.py) that waits `--latency` (default 0.1 s) before answering each HTTP
request, runs `python -m association audit` over every stack in this process, and prints the
wall time and the Graph requests per tenant (HTTP requests: batches, pages, retries) and the
GETs inside them. `--with-policy` gives every tenant a token lifetime policy (of another
app): what a tenant that holds policies costs, one more batch for the policy's `appliesTo`.
Loopback only; it stops by itself.
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
from fakegraph import TOKEN, FakeGraph, deployed_tenant, serve  # noqa: E402

from association_tools.audit import cli as audit  # noqa: E402
from association_tools.audit.live import requests_for  # noqa: E402

OWNER = "0b5e7a11-0000-4000-8000-000000000001"
TOKEN_VARIABLE = "AUDIT_SCALE_TOKEN"


def build(directory: Path, tenants: int, graph: FakeGraph, with_policy: bool) -> list[str]:
    """Stack files, certificates and outputs for `tenants` stacks, and their tenants in `graph`.
    Returns the `--outputs` arguments."""
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
    return outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--with-policy", action="store_true")
    args = parser.parse_args()
    first_batch = len(requests_for(OWNER, OWNER, "x"))
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        graph = FakeGraph(latency=args.latency)
        outputs = build(directory, args.tenants, graph, args.with_policy)
        with serve(graph) as endpoint, contextlib.chdir(directory):
            for concurrency in args.concurrency:
                graph.batches = 0
                report = directory / "audit.json"
                argv = [
                    *outputs,
                    f"--graph-endpoint={endpoint}",
                    f"--token-env={TOKEN_VARIABLE}",
                    f"--concurrency={concurrency}",
                    f"--json={report}",
                ]
                with _token(), contextlib.redirect_stdout(io.StringIO()):
                    started = time.perf_counter()
                    code = audit.main(argv)
                    elapsed = time.perf_counter() - started
                stacks = json.loads(report.read_text(encoding="utf-8"))["stacks"]
                per_tenant = sorted({stack["requests"] for stack in stacks})
                print(
                    f"{args.tenants} tenants, {args.latency * 1000:.0f} ms per request, "
                    f"concurrency {concurrency}: exit {code}, {elapsed:.2f} s wall "
                    f"({elapsed / args.tenants * 1000:.1f} ms a tenant), Graph requests per "
                    f"tenant {per_tenant}, {graph.batches} in all; {first_batch} GETs in the "
                    "first batch"
                    + (", every tenant with a token lifetime policy" if args.with_policy else "")
                )
    return 0


@contextlib.contextmanager
def _token() -> Iterator[None]:
    """The fake's token in the environment, for `--token-env`, during one run."""
    os.environ[TOKEN_VARIABLE] = TOKEN
    try:
        yield
    finally:
        del os.environ[TOKEN_VARIABLE]


if __name__ == "__main__":
    sys.exit(main())
