"""One shard of 300 stacks through scripts/fleet.sh, one at a time and FLEET_CONCURRENCY at once.

    python benchmarks/fleet_scale.py [--stacks N] [--sleep SECONDS] [--concurrency C]

Generates N stack files (default 300) in a temporary git repository and runs
`scripts/fleet.sh shard preview` over all of them as one GitHub job, with the fake
`pulumi` of tests/fake_pulumi.py, whose `preview` sleeps `--sleep` seconds (default
0.1): a real `pulumi preview` waits 5-15 s, almost all of it on Microsoft Graph and the
state backend, so the fake waits too instead of computing; 0.1 s is a 10 s preview
scaled down 100 times, which keeps the run under a minute and leaves the scripts' own
cost (bash, the preflight gate, one `pulumi` start per command) at its real size, so it
is measured, not scaled. The last line is the result:

    fleet: 300 stacks, concurrency C: X s (serial Y s)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fake_pulumi import FakeFleet  # noqa: E402


def shard_seconds(stacks: int, pause: float, concurrency: int) -> float:
    """Wall time of one `fleet.sh shard preview` over a fresh fleet of `stacks` stacks."""
    with tempfile.TemporaryDirectory() as folder:
        fleet = FakeFleet(Path(folder), stacks)
        (fleet.canned / "sleep").write_text(f"{pause}\n", "utf-8")
        env = fleet.env(
            GITHUB_ACTIONS="true",
            GITHUB_STEP_SUMMARY=str(fleet.root / "summary.md"),
            FLEET_OUT=str(fleet.root / "out"),
            FLEET_STACKS=json.dumps(fleet.stacks),
            SHARD_INDEX="0",
            SHARD_COUNT="1",
            ARM_CLIENT_ID="client",
            FLEET_CONCURRENCY=str(concurrency),
        )
        start = time.perf_counter()
        run = fleet.run("shard", "preview", env=env)
        elapsed = time.perf_counter() - start
        results = (fleet.root / "out" / "results.tsv").read_text("utf-8").splitlines()
        if run.returncode or len(results) != stacks:
            raise SystemExit(f"the shard failed (exit {run.returncode}):\n{run.stderr[-2000:]}")
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=300)
    parser.add_argument("--sleep", type=float, default=0.1, help="seconds per fake preview")
    parser.add_argument("--concurrency", type=int, default=4, help="FLEET_CONCURRENCY")
    args = parser.parse_args()
    serial = shard_seconds(args.stacks, args.sleep, 1)
    print(f"serial: {serial:.1f} s, {serial / args.stacks * 1000:.0f} ms a stack")
    parallel = shard_seconds(args.stacks, args.sleep, args.concurrency)
    print(f"speed-up at concurrency {args.concurrency}: {serial / parallel:.2f}x")
    print(
        f"fleet: {args.stacks} stacks, concurrency {args.concurrency}: "
        f"{parallel:.1f} s (serial {serial:.1f} s)"
    )


if __name__ == "__main__":
    main()
