"""The bootstrap at MSP scale: N tenants of four kinds against a fake Graph and fake Exchange.

    python benchmarks/bootstrap_scale.py [--tenants N] [--latency SECONDS] [--jobs J]

Builds a temporary copy of the project, a tenants file of N tenants (default 300): a quarter
fresh (nothing consented), a quarter consented already, a quarter with an app made by hand
from Mimecast's guide (to adopt), a quarter whose administrator is no Privileged Role
Administrator (Microsoft Graph's consent refused); every tenth manages the Exchange side.
Serves the strict fake Graph (tests/fake_directory.py) and fake Exchange
(tests/fake_exchange.py) on 127.0.0.1, each waiting `--latency` (default 0.1 s) before
answering each HTTP request, and runs `python -m association bootstrap` in this process:
once, again (which must change nothing), and then from scratch stopped after half the
tenants and resumed (which must end as the single run did). Prints the wall time of each,
the HTTP requests and writes, and the outcome counts. Loopback only; it stops by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from certfactory import der, make_certificate, pem  # noqa: E402
from fake_directory import (  # noqa: E402
    GRAPH_ROLES,
    PIPELINE_APPS,
    WITHOUT_PRIVILEGED_ROLE,
    FakeDirectory,
    add_hand_made_app,
    consented_tenant,
    fresh_tenant,
    publisher_tenant,
)
from fake_directory import serve as serve_directory  # noqa: E402
from fake_exchange import FakeExchange, FakeOrganization  # noqa: E402
from fake_exchange import serve as serve_exchange  # noqa: E402

from association_tools.bootstrap import cli as bootstrap  # noqa: E402

DEPLOY, PREVIEW, AUDIT = PIPELINE_APPS
GRANTS = {
    app: [GRAPH_ROLES[name] for name in names]
    for app, names in (
        (DEPLOY, ("Application.ReadWrite.OwnedBy", "AppRoleAssignment.ReadWrite.All")),
        (PREVIEW, ("Application.Read.All", "Domain.Read.All")),
        (AUDIT, ("Application.Read.All", "Directory.Read.All", "Policy.Read.All")),
    )
}
"""What a consented tenant's pipeline apps hold: the deploy app lacks two, given by the run."""


def world(
    tenants: int, latency: float, certificate: bytes
) -> tuple[FakeDirectory, FakeExchange, list[str]]:
    """The fakes' tenants and the tenants file's lines."""
    directory = FakeDirectory(latency=latency, seed=1)
    publisher_tenant(directory)
    exchange = FakeExchange(latency=latency)
    rows = ["stack,tenantId,exchange"]
    for n in range(tenants):
        kind = n % 4
        if kind == 0:
            tenant = fresh_tenant(directory)
        elif kind == 1:
            tenant = consented_tenant(directory, GRANTS)
        elif kind == 2:
            tenant = consented_tenant(directory, GRANTS)
            add_hand_made_app(directory, tenant, certificate)
        else:
            tenant = fresh_tenant(directory, admin_roles=WITHOUT_PRIVILEGED_ROLE)
        manage = n % 10 == 0
        if manage:
            exchange.tenants[tenant.tenant_id] = FakeOrganization()
        rows.append(f"t{n:03d},{tenant.tenant_id},{'manage' if manage else ''}")
    return directory, exchange, rows


@contextlib.contextmanager
def project(rows: list[str], certificate: bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as scratch:
        where = Path(scratch)
        shutil.copy(ROOT / "__main__.py", where)
        shutil.copy(ROOT / "Pulumi.yaml", where)
        (where / "certs").mkdir()
        (where / "certs" / "mimecast.pem").write_bytes(certificate)
        (where / "tenants.csv").write_text("\n".join(rows) + "\n")
        yield where


def run(
    where: Path, graph: str, exchange_url: str, jobs: int, extra: list[str]
) -> tuple[float, int, dict[str, str], int]:
    """Seconds, exit status, each stack's status, and the changes the outcomes list."""
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        status = bootstrap.main(
            [
                *(str(where / "tenants.csv"), "--project-dir", str(where)),
                *("--deploy-app-id", DEPLOY, "--preview-app-id", PREVIEW, "--audit-app-id", AUDIT),
                *("--certificate", "certs/mimecast.pem"),
                *("--graph-endpoint", graph, "--exchange-endpoint", exchange_url),
                *("--token-env", "BOOTSTRAP_SCALE_GRAPH"),
                *("--exchange-token-env", "BOOTSTRAP_SCALE_EXCHANGE"),
                *("--jobs", str(jobs), "--json", str(where / "outcome.json"), *extra),
            ],
            sleep=lambda seconds: None,
        )
    seconds = time.perf_counter() - started
    outcomes = json.loads((where / "outcome.json").read_text())["tenants"]
    statuses = {o["stack"]: o["status"] for o in outcomes}
    return seconds, status, statuses, sum(len(o["changes"]) for o in outcomes)


def counted(statuses: dict[str, str]) -> str:
    kinds = sorted(set(statuses.values()))
    return ", ".join(f"{sum(s == kind for s in statuses.values())} {kind}" for kind in kinds)


def texts(where: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(where.glob("Pulumi.t*.yaml"))}


ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[\w-]{43}")


def shape(where: Path) -> dict[str, str]:
    """Each stack file with its IDs masked (object IDs differ from world to world)."""
    return {name: ID.sub("<id>", text) for name, text in texts(where).items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tenants", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--jobs", type=int, default=8)
    args = parser.parse_args()
    cert = make_certificate("Mimecast Current")
    once: dict[str, str] = {}
    files: dict[str, str] = {}
    for label in ("one run", "stopped and resumed"):
        directory, exchange, rows = world(args.tenants, args.latency, der(cert))
        tokens = {line.split(",")[1]: f"token-{line.split(',')[1]}" for line in rows[1:]}
        os.environ["BOOTSTRAP_SCALE_GRAPH"] = json.dumps(tokens)
        os.environ["BOOTSTRAP_SCALE_EXCHANGE"] = exchange.token
        with (
            project(rows, pem(cert)) as where,
            serve_directory(directory) as graph,
            serve_exchange(exchange) as exchange_url,
        ):
            if label == "one run":
                seconds, status, once, changes = run(where, graph, exchange_url, args.jobs, [])
                print(
                    f"bootstrap: {args.tenants} tenants, jobs {args.jobs}, latency "
                    f"{args.latency:g} s: {seconds:.1f} s (exit {status}: {counted(once)})"
                )
                print(
                    f"  {changes} changes; Graph: {directory.http_requests} HTTP requests; "
                    f"Exchange: {len(exchange.calls)} requests"
                )
                before = texts(where)
                again, _, statuses, changes = run(where, graph, exchange_url, args.jobs, [])
                print(
                    f"  second run: {again:.1f} s, {changes} changes, the same outcomes: "
                    f"{statuses == once}, stack files unchanged: {texts(where) == before}"
                )
                files = shape(where)
            else:
                (where / "tenants.csv").write_text("\n".join(rows[: 1 + len(rows) // 2]) + "\n")
                part, *_ = run(where, graph, exchange_url, args.jobs, [])
                (where / "tenants.csv").write_text("\n".join(rows) + "\n")
                rest, _, statuses, _ = run(where, graph, exchange_url, args.jobs, ["--resume"])
                print(
                    f"  stopped after half: {part:.1f} s, resumed: {rest:.1f} s; ends as one run: "
                    f"outcomes {statuses == once}, stack files {shape(where) == files}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
