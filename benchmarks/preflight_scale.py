"""Preflight at MSP scale: N generated tenant stacks, checked by one process.

    python benchmarks/preflight_scale.py [--stacks N] [--jobs J ...]

Builds a temporary copy of the project with N stacks (default 500), each with its own tenant
ID, display name, owner and generated certificate, runs `python -m association preflight`
over all of them, once in this process (`--jobs 1`) and once with two spawned workers
(`--jobs 2`), and prints the total wall time, the time per stack, the size of the text
report (lines, bytes) and the peak memory.
Peak memory is the peak resident set size (`getrusage` `ru_maxrss`) of this process (the
interpreter, the Pulumi SDK, the generated certificates and every report) and of the largest
worker.
Target on a 2-core machine: 500 stacks in under 10 seconds, under 300 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from certfactory import NOW, make_certificate, pem  # noqa: E402

from association.certificates import rfc3339  # noqa: E402
from association_tools.preflight import cli as preflight  # noqa: E402

OWNER = "0b5e7a11-0000-4000-8000-000000000001"
"""The pipeline identity every generated stack lists as owner, as MSPs do."""


def build_project(directory: Path, stacks: int) -> None:
    """A copy of the program with `stacks` stack files, each with its own certificate."""
    shutil.copy(ROOT / "__main__.py", directory)
    shutil.copy(ROOT / "Pulumi.yaml", directory)
    (directory / "certs").mkdir()
    for index in range(stacks):
        name = f"tenant-{index:04d}"
        cert = make_certificate(f"Mimecast {name}", serial=index + 1)
        (directory / "certs" / f"{name}.pem").write_bytes(pem(cert))
        tenant = uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.example")
        (directory / f"Pulumi.{name}.yaml").write_text(
            "config:\n"
            f"  azuread:tenantId: {tenant}\n"
            f"  mimecast-association:displayName: Mimecast Cloud Synchronization ({name})\n"
            f"  mimecast-association:certificates: [certs/{name}.pem]\n"
            f"  mimecast-association:owners: [{OWNER}]\n",
            encoding="utf-8",
        )


def peak_memory_mb(who: int) -> float:
    """Peak resident set size of this process (RUSAGE_SELF) or of its largest worker."""
    peak = resource.getrusage(who).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, else KiB


def measure(directory: Path, stacks: int, jobs: int) -> int:
    output = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(output):
        status = preflight.main(
            ["--project-dir", str(directory), "--now", rfc3339(NOW), "--jobs", str(jobs)]
        )
    elapsed = time.perf_counter() - start
    lines = output.getvalue().splitlines()
    print(f"--jobs {jobs}: {lines[-2]} (exit status {status})")
    print(f"  text report: {len(lines)} lines, {len(output.getvalue().encode())} bytes")
    print(
        f"  total {elapsed:.2f} s for {stacks} stacks, {elapsed / stacks * 1000:.1f} ms per stack"
    )
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=500, help="how many stacks (default 500)")
    parser.add_argument(
        "--jobs", type=int, nargs="+", default=[1, 2], help="--jobs values to time (default 1 2)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="preflight-scale-") as temporary:
        directory = Path(temporary)
        build_project(directory, args.stacks)
        statuses = [measure(directory, args.stacks, jobs) for jobs in args.jobs]
    print(
        f"peak memory {peak_memory_mb(resource.RUSAGE_SELF):.0f} MB in this process, "
        f"{peak_memory_mb(resource.RUSAGE_CHILDREN):.0f} MB in the largest worker "
        "(peak resident set sizes)"
    )
    return max(statuses)


if __name__ == "__main__":
    sys.exit(main())
