"""scripts/fleet.sh and scripts/fleet.py: the fleet in shards, by behaviour.

The scripts run for real (bash, git, Python) against the fakes of tests/fake_pulumi.py,
which record every `pulumi` call with its sign-in environment. What is checked is the
orchestration only: which stack runs where, with which command and identity, and what
the jobs report and exit with.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from association_tools.escape import md_text
from association_tools.project import STACK_NAME
from tests.fake_pulumi import (
    REPO,
    FakeFleet,
    Run,
    github_shards,
    jwt,
    load_script,
    plan_shards,
    report,
    tenant_of,
)

fleet_py = load_script("fleet_py", REPO / "scripts" / "fleet.py")


# --- fleet.py: shards, gate, last deploy --------------------------------------------------


@pytest.mark.parametrize(
    ("stacks", "wanted", "max_per_shard", "expected"),
    [
        (300, 10, 0, 10),  # the nightly target: 300 stacks in 10 jobs
        (300, 5, 40, 8),  # Azure DevOps: at most 40 stacks (steps) per job
        (300, 10, 40, 10),
        (3, 10, 0, 3),  # never an empty shard
        (0, 10, 0, 0),
        (1000, 1, 0, 1),
    ],
)
def test_shard_count(stacks: int, wanted: int, max_per_shard: int, expected: int) -> None:
    assert fleet_py.shard_count(stacks, wanted, max_per_shard, 256) == expected


def test_shard_count_refuses_more_jobs_than_a_matrix_runs() -> None:
    with pytest.raises(fleet_py.FleetError, match="more than the 256"):
        fleet_py.shard_count(1000, 10, 3, 256)
    with pytest.raises(fleet_py.FleetError, match="1 or more"):
        fleet_py.shard_count(10, 0, 0, 256)


def test_shards_cover_every_stack_once_and_evenly() -> None:
    stacks = [f"s{i}" for i in range(301)]
    shards = [fleet_py.shard(stacks, index, 10) for index in range(10)]
    assert sorted(s for part in shards for s in part) == sorted(stacks)
    assert {len(part) for part in shards} == {30, 31}
    with pytest.raises(fleet_py.FleetError):
        fleet_py.shard(stacks, 10, 10)


@pytest.mark.parametrize("name", ["a b", "$(id)", "x\ty", "", "a/b", "ok\n", "\nok", "ok\r"])
def test_stack_names_are_checked(name: str) -> None:
    with pytest.raises(fleet_py.FleetError, match="stack name"):
        fleet_py.checked(["ok", name])


def problem(code: str, message: str, setting: str | None = None) -> dict[str, Any]:
    """One preflight problem as `preflight --json` writes it."""
    return {"code": code, "setting": setting, "message": message}


def test_gate_blocks_only_stacks_with_errors() -> None:
    preflight = json.dumps(
        {
            "stacks": [
                {"stack": "a", "errors": [], "warnings": [problem("ews-retirement", "soon")]},
                {
                    "stack": "b",
                    "errors": [
                        problem("certificate-expired", "expired\n x\x1b[31m", "certificates"),
                        problem("owner-missing", "second"),
                    ],
                },
            ]
        }
    )
    gates = fleet_py.gate(["a", "b", "c"], preflight, 1)
    assert [(g.stack, g.status) for g in gates] == [("a", "ok"), ("b", "blocked"), ("c", "blocked")]
    # The first error's code, then its whole message on one line, control characters escaped.
    assert gates[1].reason == "preflight: certificate-expired: expired x\\x1b[31m"
    assert gates[2].reason == "preflight did not report this stack"
    # No JSON at all (a crash, a usage error): nothing runs, and it says why.
    assert {g.reason for g in fleet_py.gate(["a", "b"], "", 2)} == {
        "preflight did not run (exit 2); see the shard's log"
    }


@pytest.mark.parametrize(
    "errors",
    [
        ["certificates[0] expired"],
        [{"message": "no code"}],
        [{"code": "", "message": "x"}],
        [{"code": "a\tb", "message": "x"}],
    ],
    ids=["bare-string", "no-code", "empty-code", "not-kebab-case"],
)
def test_gate_reads_only_problems_with_a_code(errors: list[Any]) -> None:
    # A problem without its code is no shape the gate knows: the shard runs nothing.
    preflight = json.dumps({"stacks": [{"stack": "a", "errors": errors}]})
    (entry,) = fleet_py.gate(["a"], preflight, 1)
    assert (entry.status, entry.reason) == (
        "blocked",
        "preflight did not run (exit 1); see the shard's log",
    )


def test_gate_decides_by_code_never_by_message() -> None:
    # The same message with and without an error: only the errors list decides.
    same = "certificates[0] expired on 2025-08-04"
    preflight = json.dumps(
        {
            "stacks": [
                {"stack": "a", "errors": [], "warnings": [problem("certificate-expiring", same)]},
                {"stack": "b", "errors": [problem("certificate-expired", same)]},
            ]
        }
    )
    assert [g.status for g in fleet_py.gate(["a", "b"], preflight, 1)] == ["ok", "blocked"]


def test_the_gate_reads_what_the_real_preflight_writes() -> None:
    # The shipped example stack has a placeholder tenant: preflight's own JSON, gated.
    preflight = subprocess.run(
        [sys.executable, "-m", "association", "preflight", "--json", "-", "--", "example"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert preflight.returncode == 1, preflight.stderr
    (entry,) = fleet_py.gate(["example"], preflight.stdout, preflight.returncode)
    assert entry.status == "blocked"
    assert entry.reason.startswith("preflight: tenant-placeholder: ")


def test_the_gate_carries_each_stacks_own_warnings_and_the_whole_reason() -> None:
    shared = problem("ews-retirement", "EWS is shut down on 2027-04-01.")
    long = "certificates[0] expired " + "and this is why " * 40 + "end."
    preflight = json.dumps(
        {
            "summary": {"fleetWide": [shared]},
            "stacks": [
                {"stack": "a", "errors": [], "warnings": [shared]},
                {
                    "stack": "b",
                    "errors": [],
                    "warnings": [shared, problem("certificate-expiry", "expires\tin 19 days")],
                },
                {
                    "stack": "c",
                    "errors": [problem("certificate-expired", long)],
                    "warnings": [problem("tenant-shared", "Stacks c, d all manage tenant T")],
                },
            ],
        }
    )
    records = [line for g in fleet_py.gate(["a", "b", "c"], preflight, 1) for line in g.records()]
    assert records == [
        "a\tok\t",
        "b\tok\t",
        "b\twarning\tcertificate-expiry: expires in 19 days",
        f"c\tblocked\tpreflight: certificate-expired: {' '.join(long.split())}",
        "c\twarning\ttenant-shared: Stacks c, d all manage tenant T",
    ]


def test_the_job_summary_is_by_status_with_every_why_whole_and_escaped() -> None:
    results = load_script("fleet_results", REPO / "scripts" / "fleet_results.py")
    why = "preflight: certificate-expired: a | b <b>x</b> `c` " + "long words " * 60 + "end"
    report = results.render_report(
        "up",
        ["a-ok", "b-blocked", "c-failed", "d-warned"],
        [
            results.Result("d-warned", "warning", "certificate-expiry: soon"),
            results.Result("a-ok", "ok", ""),
            results.Result("b-blocked", "blocked", why),
            results.Result("c-failed", "failed", "exit 1; see logs/c-failed.log"),
            results.Result("d-warned", "ok", ""),
        ],
    )
    assert [s["stack"] for s in report["stacks"]] == ["c-failed", "b-blocked", "a-ok", "d-warned"]
    rows = [line for line in results.to_markdown(report).splitlines() if line.startswith("| `")]
    assert rows[0] == "| `c-failed` | failed | exit 1; see logs/c-failed.log | — |"
    assert rows[1].startswith("| `b-blocked` | blocked | preflight: certificate-expired: a \\| b ")
    assert rows[1].endswith("long words end | — |")  # whole, never cut mid-word
    assert "\\<b\\>x\\</b\\> \\`c\\`" in rows[1]
    assert rows[2] == "| `d-warned` | ok | — | certificate-expiry: soon |"
    assert "The other 1 stacks: ok, without warnings of their own." in results.to_markdown(report)


@pytest.mark.parametrize(
    "text",
    [
        "a | b",
        "<img src=x>",
        "`x` **y** _z_ [l](u)",
        "https://x www.y.z",
        "\x1b[31m\nnew\ttab\u2028",
        "$a~b@c&d\\",
    ],
)
def test_the_summary_cells_escape_as_the_reports_do(text: str) -> None:
    results = load_script("fleet_results", REPO / "scripts" / "fleet_results.py")
    assert results.markdown_cell(text) == md_text(text)


def test_stack_name_copies_match_the_product() -> None:
    record = load_script("deploy_record", REPO / "scripts" / "deploy-record.py")
    for copy in (fleet_py.STACK_NAME, record.STACK_NAME):
        assert copy.pattern == STACK_NAME.pattern
    fleet_sh = (REPO / "scripts" / "fleet.sh").read_text("utf-8")
    assert f"stack_name='^{STACK_NAME.pattern}$'" in fleet_sh
    assert fleet_py.STACK_NAME.fullmatch("a" * 100)
    assert not fleet_py.STACK_NAME.fullmatch("a" * 101)


# --- re-runs: the commit, the attempts ------------------------------------------------------

SHA_A, SHA_B = "a" * 40, "b" * 40


def test_stale_reason() -> None:
    assert fleet_py.stale_reason(SHA_A, SHA_A, "main") is None
    reason = fleet_py.stale_reason(SHA_A, SHA_B, "main")
    assert reason is not None
    assert f"deploys {SHA_A[:12]}, but main is at {SHA_B[:12]}" in reason
    # What cannot be read refuses: a deploy never goes ahead on a guess.
    assert "cannot read the tip of main" in str(fleet_py.stale_reason(SHA_A, "", "main"))
    assert "cannot read the tip" in str(fleet_py.stale_reason(SHA_A, "<html>", "main"))
    assert "cannot tell which commit" in str(fleet_py.stale_reason("", SHA_A, "main"))


def test_latest_attempts() -> None:
    folders = [
        "s/up-shard-0-attempt-1",
        "s/up-shard-0-attempt-3",
        "s/up-shard-0-attempt-2",
        "s/up-shard-1-attempt-1",
        "s/up-shard-10-attempt-1",
        "s/up-shard-2",  # GitHub: one name per shard
    ]
    assert fleet_py.latest_attempts(folders) == [
        "s/up-shard-0-attempt-3",
        "s/up-shard-1-attempt-1",
        "s/up-shard-10-attempt-1",
        "s/up-shard-2",
    ]


def test_token_life() -> None:
    assert 290 <= fleet_py.token_life(jwt(300), time.time()) <= 300
    with pytest.raises(fleet_py.FleetError, match="no JWT"):
        fleet_py.token_life("github-oidc-token", time.time())


# --- 300 stacks through the shards --------------------------------------------------------


def by_stack(fleet: FakeFleet, subcommand: str) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for call in fleet.calls():
        if call.argv.split(" ")[0] == subcommand:
            found.setdefault(call.stack, []).append(call)
    return found


def test_300_stacks_deploy_in_10_jobs_and_one_failure_stops_nobody(tmp_path: Path) -> None:
    fleet = FakeFleet(tmp_path, 300)
    fleet.fail("t137")
    fleet.preflight_error("t042")
    fleet.preflight_warning("t200")
    runs = github_shards(fleet, "up", shards=10)

    assert len(runs) == 10
    ups = by_stack(fleet, "up")
    # Every stack ran once, except the one preflight blocked; the failing one ran too.
    assert sorted(ups) == sorted(set(fleet.stacks) - {"t042"})
    assert all(len(calls) == 1 for calls in ups.values())
    for stack, (call,) in ups.items():
        argv = call.argv.split(" ")
        assert argv[:3] == ["up", "--yes", "--refresh"], argv
        assert "--policy-pack policy" in call.argv
        assert call.tenant_id == tenant_of(int(stack[1:]))
        assert (call.client_id, call.use_oidc, call.ado_system_token) == (
            "github-client",
            "true",
            "",
        )
    # Each job installed once (one preflight) and ran at most 30 stacks.
    preflights = [c for c in fleet.program_calls() if c[0] == "preflight"]
    assert len(preflights) == 10
    assert max(len(c[1].split("-- ")[1].split()) for c in preflights) == 30
    # Stacks after the failing one in its shard went on.
    shard_of_137 = fleet_py.shard(fleet.stacks, fleet.stacks.index("t137") % 10, 10)
    after = shard_of_137[shard_of_137.index("t137") + 1 :]
    assert after
    assert all(stack in ups for stack in after)
    # Only the two shards with a failed or blocked stack fail, each naming it.
    failed = {index: run for index, run in runs.items() if run.returncode}
    assert len(failed) == 2
    assert all(run.returncode == 1 for run in failed.values())
    annotations = "".join(run.stdout for run in failed.values())
    assert "stacks not done: t137" in annotations
    assert "stacks not done: t042" in annotations

    final = report(fleet, "up")
    assert final.returncode == 1
    assert "::error title=Deploy failed::stacks: t137 t042" in final.stdout  # failed first
    consolidated = json.loads((tmp_path / "report" / "fleet.json").read_text("utf-8"))
    assert consolidated["counts"] == {"ok": 298, "failed": 1, "blocked": 1}
    summary = (tmp_path / "report-summary.md").read_text("utf-8")
    assert "300 stacks, 298 ok, 1 failed, 1 blocked by preflight" in summary
    # Failed, then blocked, then the one ok stack with a warning of its own; the warning
    # every stack shares is not repeated on each.
    rows = [line for line in summary.splitlines() if line.startswith("| `")]
    assert rows == [
        "| `t137` | failed | exit 255; see logs/t137.log | — |",
        "| `t042` | blocked | preflight: certificate-expired: certificates\\[0\\] expired on "
        "2025-08-04 | — |",
        "| `t200` | ok | — | certificate-expiry: certificates\\[0\\] expires on 2026-12-20 (19 "
        "days left). |",
    ]
    assert "The other 297 stacks: ok, without warnings of their own." in summary
    assert "ews-retirement" not in summary


def test_a_clean_fleet_passes_and_a_missing_shard_does_not(tmp_path: Path) -> None:
    fleet = FakeFleet(tmp_path, 12)
    runs = github_shards(fleet, "preview", shards=4)
    assert {run.returncode for run in runs.values()} == {0}
    previews = by_stack(fleet, "preview")
    assert sorted(previews) == fleet.stacks
    assert all("--policy-pack policy" in c.argv for (c,) in previews.values())
    assert all("--refresh" not in c.argv for (c,) in previews.values())
    shard_summary = (tmp_path / "summary-0.md").read_text("utf-8")
    assert "<code>t001</code>: ok" in shard_summary
    assert "Previewing update (t001)" in shard_summary
    assert report(fleet, "preview").returncode == 0

    # A shard whose job never ran leaves its stacks without a result: that fails.
    for file in (tmp_path / "artifacts" / "shard-3").iterdir():
        if file.is_file():
            file.unlink()
    final = report(fleet, "preview")
    assert final.returncode == 1
    missing = fleet_py.shard(fleet.stacks, 3, 4)
    assert f"::error title=Preview failed::stacks: {' '.join(missing)}" in final.stdout


def test_pulumi_output_never_reaches_the_job_log(tmp_path: Path) -> None:
    # Tenant data in a diff must not be read as a workflow command (`::`, `##vso[`).
    fleet = FakeFleet(tmp_path, 2)
    runs = github_shards(fleet, "preview", shards=1)
    assert "Previewing update" not in runs[0].stdout + runs[0].stderr
    log = tmp_path / "artifacts" / "shard-0" / "logs" / "t001.log"
    assert "Previewing update (t001)" in log.read_text("utf-8")


# --- Azure DevOps: one AzureCLI@2 step per stack, each with a fresh id token ---------------


def ado_env(fleet: FakeFleet, **extra: str) -> dict[str, str]:
    defaults = {
        "FLEET_CONCURRENCY": "1",
        "TF_BUILD": "True",
        "FLEET_OUT": str(fleet.root / "ado"),
        "FLEET_STACKS": json.dumps(fleet.stacks),
        "SHARD_INDEX": "0",
        "SHARD_COUNT": "1",
        "AGENT_TEMPDIRECTORY": str(fleet.root),
        # What Azure DevOps maps into a step by mistake must never reach the provider.
        "SYSTEM_ACCESSTOKEN": "ado-system-token",
        "ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID": "connection",
    }
    return fleet.env(**{**defaults, **extra})


def test_ado_hands_each_stack_its_own_steps_id_token(tmp_path: Path) -> None:
    # FLEET_CONCURRENCY 1 (ado_env): one stack per step.
    fleet = FakeFleet(tmp_path, 5)
    fleet.preflight_error("t002")
    prepared = fleet.run("prepare", "up", env=ado_env(fleet))
    assert prepared.returncode == 0, prepared.stderr
    assert "##vso[task.setvariable variable=FLEET_SLOTS]4" in prepared.stdout
    for slot in range(1, 7):  # more slots than stacks: the extra ones do nothing
        step = ado_env(fleet, idToken=f"id-token-{slot}", servicePrincipalId="sp-client")
        assert fleet.run("stack", "up", str(slot), env=step).returncode == 0
    ups = by_stack(fleet, "up")
    assert {stack: call.oidc_token for stack, (call,) in ups.items()} == {
        "t001": "id-token-1",
        "t003": "id-token-2",
        "t004": "id-token-3",
        "t005": "id-token-4",
    }
    for call in fleet.calls():
        assert (call.client_id, call.use_oidc, call.ado_system_token) == ("sp-client", "true", "")
    finished = fleet.run("finish", "up", env=ado_env(fleet))
    assert finished.returncode == 1
    assert "##vso[task.logissue type=error]Shard 0 failed: stacks not done: t002" in finished.stdout
    assert "##vso[task.uploadsummary]" in finished.stdout


def test_ado_stack_step_without_an_id_token_fails_that_stack_only(tmp_path: Path) -> None:
    fleet = FakeFleet(tmp_path, 2)
    assert fleet.run("prepare", "preview", env=ado_env(fleet)).returncode == 0
    assert fleet.run("stack", "preview", "1", env=ado_env(fleet)).returncode == 0
    step = ado_env(fleet, idToken="fresh", servicePrincipalId="sp")
    assert fleet.run("stack", "preview", "2", env=step).returncode == 0
    assert sorted(by_stack(fleet, "preview")) == ["t002"]
    log = (tmp_path / "ado" / "logs" / "sign-in.log").read_text("utf-8")
    assert "addSpnToEnvironment" in log
    assert "t001\tfailed\tsign-in failed" in (tmp_path / "ado" / "results.tsv").read_text("utf-8")
    assert fleet.run("finish", "preview", env=ado_env(fleet)).returncode == 1


def test_ado_slot_must_be_a_number(tmp_path: Path) -> None:
    fleet = FakeFleet(tmp_path, 1)
    assert fleet.run("prepare", "up", env=ado_env(fleet)).returncode == 0
    run = fleet.run("stack", "up", "1;id", env=ado_env(fleet, idToken="t"))
    assert run.returncode == 2
    assert fleet.calls() == []


# --- nightly: one drift report and one audit over every shard --------------------------------


def test_300_stacks_nightly_one_drift_report_one_audit(tmp_path: Path) -> None:
    fleet = FakeFleet(tmp_path, 300)
    fleet.fail("t250", 1)
    fleet.exit_status("drift", 3)
    fleet.exit_status("audit", 3)
    runs = github_shards(fleet, "drift", shards=10)
    assert len(runs) == 10
    previews = by_stack(fleet, "preview")
    assert sorted(previews) == fleet.stacks
    assert all(c.argv.startswith("preview --stack") for (c,) in previews.values())
    assert all("--refresh --json" in c.argv for (c,) in previews.values())
    assert sorted(by_stack(fleet, "stack")) == fleet.stacks  # select and output per stack
    assert [c for c in fleet.program_calls() if c[0] == "preflight"] == []

    final = report(fleet, "drift")
    assert final.returncode == 1  # a stack's preview failed: an error wins over drift
    programs = fleet.program_calls()
    (drift,) = [c for c in programs if c[0] == "drift"]
    assert len([a for a in drift[1].split(" ") if a.endswith(".json")]) == 301  # + --json FILE
    audits = [c for c in programs if c[0] == "audit"]
    assert programs.index(drift) == len(programs) - 7  # the audit runs after the report
    # In chunks of 50 stacks, each its own process with a token requested for it: no
    # chunk outlives its token (azure-identity reads the file once per process).
    assert [a[1].count("--outputs ") for a in audits] == [50] * 6
    assert "--outputs t001=" in audits[0][1]
    audited = [s for a in audits for s in a[1].split(" -- ")[1].split(" ")]
    assert audited == fleet.stacks
    # Signed in as the audit identity (never the job's ARM_CLIENT_ID, the preview app) with
    # a freshly requested federated token.
    assert {a[2] for a in audits} == {f"github-audit-client@home-tenant:{fleet.oidc_token}"}
    token_requests = [c for c in fleet.curl_log.read_text("utf-8").splitlines() if "audience=" in c]
    assert len(token_requests) == 6
    assert not (tmp_path / "fleet-federated-token").exists()
    # One audit JSON across the chunks, shaped as the audit writes it.
    merged = json.loads((tmp_path / "report" / "audit.json").read_text("utf-8"))
    assert (merged["status"], merged["exitCode"]) == ("findings", 3)
    assert [entry["stack"] for entry in merged["stacks"]] == fleet.stacks
    for label in ("Drift check failed", "Drift detected", "Audit findings"):
        assert f"::error title={label}::" in final.stdout
    summary = (tmp_path / "report-summary.md").read_text("utf-8")
    assert summary.index("## Drift report") < summary.index("## Security audit")
    assert "fake drift report" in summary
    assert "fake audit report" in summary
    assert "| `t250` | failed |" in summary


@pytest.mark.parametrize(
    ("drift_rc", "audit_rc", "expected_rc", "labels"),
    [
        (0, 0, 0, []),
        (3, 0, 3, ["Drift detected"]),
        (0, 3, 3, ["Audit findings"]),
        (3, 3, 3, ["Drift detected", "Audit findings"]),
        (1, 0, 1, ["Drift check failed"]),
        (0, 1, 1, ["Audit failed"]),
        (0, 2, 1, ["Audit failed"]),
        (3, 1, 1, ["Drift detected", "Audit failed"]),
    ],
)
def test_drift_and_audit_exit_codes_become_labels(
    tmp_path: Path, drift_rc: int, audit_rc: int, expected_rc: int, labels: list[str]
) -> None:
    fleet = FakeFleet(tmp_path, 4)
    fleet.exit_status("drift", drift_rc)
    fleet.exit_status("audit", audit_rc)
    assert {run.returncode for run in github_shards(fleet, "drift", shards=2).values()} == {0}
    final = report(fleet, "drift")
    assert final.returncode == expected_rc
    found = [line.split("::")[1].removeprefix("error title=") for line in final.stdout.splitlines()]
    assert found == labels


@pytest.mark.parametrize("audit_client", ["", "$(AZURE_AUDIT_CLIENT_ID)"])
def test_without_the_audit_identity_the_audit_fails_and_never_runs_as_another(
    tmp_path: Path, audit_client: str
) -> None:
    fleet = FakeFleet(tmp_path, 3)
    github_shards(fleet, "drift", shards=1)
    final = report(fleet, "drift", FLEET_AUDIT_CLIENT_ID=audit_client)
    assert final.returncode == 1
    assert "::error title=Audit failed::" in final.stdout
    assert [c for c in fleet.program_calls() if c[0] == "audit"] == []
    assert [c[0] for c in fleet.program_calls()][-1] == "drift"  # the drift report still ran
    summary = (tmp_path / "report-summary.md").read_text("utf-8")
    assert "No audit identity: set the variable AZURE_AUDIT_CLIENT_ID" in summary


def ado_drift_report(fleet: FakeFleet, **step: str) -> Run:
    """The Azure DevOps report job's drift step over the shards' artifacts."""
    env = fleet.env(
        TF_BUILD="True",
        FLEET_OUT=str(fleet.root / "report"),
        FLEET_STACKS=json.dumps(fleet.stacks),
        AGENT_TEMPDIRECTORY=str(fleet.root),
        **step,
    )
    return fleet.run("report", "drift", str(fleet.root / "artifacts"), env=env)


def test_ado_report_outside_the_audit_connections_step_does_not_audit(tmp_path: Path) -> None:
    fleet = FakeFleet(tmp_path, 2)
    github_shards(fleet, "drift", shards=1)
    # A stray client ID is no audit identity.
    run = ado_drift_report(fleet, ARM_CLIENT_ID="ado-preview")
    assert run.returncode == 1
    assert "##vso[build.addbuildtag]audit-failed" in run.stdout
    assert [c for c in fleet.program_calls() if c[0] == "audit"] == []
    assert "mimecast-association-audit" in (tmp_path / "report" / "audit.md").read_text("utf-8")


def test_ado_report_tags_the_run_and_signs_the_audit_in_with_the_steps_token(
    tmp_path: Path,
) -> None:
    fleet = FakeFleet(tmp_path, 3)
    fleet.exit_status("audit", 3)
    github_shards(fleet, "drift", shards=1)
    token = jwt(600)
    # The audit connection's AzureCLI@2 step.
    run = ado_drift_report(
        fleet, idToken=token, servicePrincipalId="ado-audit", tenantId="ado-home"
    )
    assert run.returncode == 3
    assert "##vso[task.logissue type=error]Audit findings: the audit found" in run.stdout
    assert "##vso[build.addbuildtag]audit-findings" in run.stdout
    (audit,) = [c for c in fleet.program_calls() if c[0] == "audit"]
    assert audit[2] == f"ado-audit@ado-home:{token}"


def test_the_real_drift_report_consolidates_every_shard(tmp_path: Path) -> None:
    fleet = FakeFleet(tmp_path, 30)
    github_shards(fleet, "drift", shards=3)
    final = report(fleet, "drift", REAL_PYTHON=sys.executable, PYTHONPATH=str(REPO))
    drift = json.loads((tmp_path / "report" / "drift.json").read_text("utf-8"))
    assert sorted(stack["stack"] for stack in drift["stacks"]) == fleet.stacks
    assert Counter(stack["status"] for stack in drift["stacks"]) == {"no-change": 30}
    assert final.returncode == 0, final.stdout


# --- plan ----------------------------------------------------------------------------------


def test_plan_shards_and_passes_the_list(tmp_path: Path) -> None:
    fleet = FakeFleet(tmp_path, 25)
    stacks, shards = plan_shards(fleet, 10)
    assert stacks == fleet.stacks
    assert shards == list(range(10))
    stacks, shards = plan_shards(fleet, 2, FLEET_MAX_PER_SHARD="5")
    assert shards == list(range(5))


def test_plan_on_ado_sets_output_variables(tmp_path: Path) -> None:
    fleet = FakeFleet(tmp_path, 3)
    run = fleet.run(
        "plan",
        env=fleet.env(TF_BUILD="True", FLEET_SELECT="all", FLEET_OUT=str(tmp_path / "p")),
    )
    assert run.returncode == 0, run.stderr
    assert "##vso[task.setvariable variable=shard_count;isOutput=true]3" in run.stdout
    assert (
        '##vso[task.setvariable variable=matrix;isOutput=true]{"shard_0":{"SHARD_INDEX":"0"},'
        in run.stdout
    )


def test_plan_caps_a_job_at_its_rounds_of_concurrent_stacks(tmp_path: Path) -> None:
    # At most FLEET_STEPS rounds of FLEET_CONCURRENCY stacks per job: 3 x 2 = 6 here.
    fleet = FakeFleet(tmp_path, 25)
    _, shards = plan_shards(fleet, 2, FLEET_STEPS="3", FLEET_CONCURRENCY="2")
    assert shards == list(range(5))
    # A smaller FLEET_MAX_PER_SHARD wins; a larger one does not lift the cap.
    _, shards = plan_shards(
        fleet, 2, FLEET_STEPS="3", FLEET_CONCURRENCY="2", FLEET_MAX_PER_SHARD="5"
    )
    assert shards == list(range(5))
    _, shards = plan_shards(
        fleet, 2, FLEET_STEPS="3", FLEET_CONCURRENCY="2", FLEET_MAX_PER_SHARD="99"
    )
    assert len(shards) == 5


# --- stacks in parallel within a shard --------------------------------------------------------


def shard_outcome(tmp_path: Path, concurrency: str) -> tuple[str, str, str, list[str]]:
    """One GitHub shard of 12 stacks (two failing, one blocked): what a reader gets."""
    fleet = FakeFleet(tmp_path, 12)
    fleet.fail("t003")
    fleet.fail("t010", 7)
    fleet.preflight_error("t006")
    (run,) = github_shards(fleet, "up", shards=1, FLEET_CONCURRENCY=concurrency).values()
    assert run.returncode == 1
    out = tmp_path / "artifacts" / "shard-0"
    lines = [line for line in run.stderr.splitlines() if line.startswith("fleet: t")]
    logs = [p.read_text("utf-8") for p in sorted((out / "logs").glob("t*.log"))]
    assert len(logs) == 11
    assert all(log.count("(t") <= 1 for log in logs)  # each log holds its own stack only
    return (
        (out / "results.tsv").read_text("utf-8"),
        (out / "shard.json").read_text("utf-8"),
        (tmp_path / "summary-0.md").read_text("utf-8"),
        lines,
    )


def test_stacks_in_parallel_give_what_the_serial_run_gives(tmp_path: Path) -> None:
    serial = shard_outcome(tmp_path / "serial", "1")
    parallel = shard_outcome(tmp_path / "parallel", "4")
    assert parallel == serial
    results, _, summary, lines = parallel
    # Every stack has its line, in queue order, the failures among them: none stopped others.
    assert [line.split(":")[1].strip() for line in lines] == [
        f"t{i:03d}" for i in range(1, 13) if i != 6
    ]
    assert "fleet: t003: FAILED (exit 255; see logs/t003.log)" in lines
    assert "t010\tfailed\texit 7; see logs/t010.log" in results
    assert summary.index("<code>t001</code>") < summary.index("<code>t012</code>")


@pytest.mark.parametrize("concurrency", [1, 3])
def test_at_most_fleet_concurrency_stacks_run_at_once(tmp_path: Path, concurrency: int) -> None:
    fleet = FakeFleet(tmp_path, 5)
    (fleet.canned / "sleep").write_text("0.3\n", "utf-8")
    github_shards(fleet, "preview", shards=1, FLEET_CONCURRENCY=str(concurrency))
    running, most = 0, 0
    for event in (fleet.canned / "events").read_text("utf-8").splitlines():
        running += 1 if event.startswith("start ") else -1
        most = max(most, running)
    assert most == concurrency


def test_ado_runs_each_step_a_group_of_stacks_with_that_steps_token(tmp_path: Path) -> None:
    fleet = FakeFleet(tmp_path, 5)
    fleet.preflight_error("t002")
    prepared = fleet.run("prepare", "up", env=ado_env(fleet, FLEET_CONCURRENCY="3"))
    assert "##vso[task.setvariable variable=FLEET_SLOTS]2" in prepared.stdout  # 4 stacks / 3
    for slot in range(1, 4):
        step = ado_env(fleet, FLEET_CONCURRENCY="3", idToken=f"id-{slot}", servicePrincipalId="sp")
        assert fleet.run("stack", "up", str(slot), env=step).returncode == 0
    ups = by_stack(fleet, "up")
    assert {stack: call.oidc_token for stack, (call,) in ups.items()} == {
        "t001": "id-1",
        "t003": "id-1",
        "t004": "id-1",
        "t005": "id-2",
    }
    results = (tmp_path / "ado" / "results.tsv").read_text("utf-8").splitlines()
    assert [line.split("\t")[0] for line in results] == ["t002", "t001", "t003", "t004", "t005"]


@pytest.mark.parametrize("value", ["0", "17", "x", "2 "])
def test_concurrency_must_be_1_to_16(tmp_path: Path, value: str) -> None:
    fleet = FakeFleet(tmp_path, 1)
    run = fleet.run("prepare", "up", env=ado_env(fleet, FLEET_CONCURRENCY=value))
    assert run.returncode == 2
    assert "FLEET_CONCURRENCY must be 1 to 16" in run.stderr


# --- re-runs ------------------------------------------------------------------------------------


def test_a_re_run_of_an_old_runs_shard_deploys_nothing_and_says_why(tmp_path: Path) -> None:
    fleet = FakeFleet(tmp_path, 4)
    old = fleet.commit("the run that failed")
    stacks, indexes = plan_shards(fleet, 2)
    newer = fleet.commit("main moves on", {"Pulumi.t001.yaml": "config: {}\n"})
    fleet.checkout(old)  # "Re-run failed jobs" checks out the run's own commit again
    (run,) = [
        fleet.run("shard", "up", env=fleet.env(
            GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(tmp_path / "s.md"),
            FLEET_OUT=str(tmp_path / "rerun"), FLEET_STACKS=json.dumps(stacks),
            SHARD_INDEX="0", SHARD_COUNT=str(len(indexes)), ARM_CLIENT_ID="c",
        ))
    ]  # fmt: skip
    assert run.returncode == 1
    assert fleet.calls() == []  # no pulumi at all: nothing deployed
    why = f"this job deploys {old[:12]}, but main is at {newer[:12]}"
    assert f"::error title=Stale run::{why}" in run.stdout
    results = (tmp_path / "rerun" / "results.tsv").read_text("utf-8")
    assert all(f"\tfailed\trefused: {why}" in line for line in results.splitlines())
    # The tip came from the API (actions/checkout would have reset origin/main to `old`).
    assert "/repos/acme/tenants/commits/main" in fleet.curl_log.read_text("utf-8")
    # Azure DevOps: the prepare step refuses, so no stack step has anything to run.
    prepared = fleet.run("prepare", "up", env=ado_env(fleet))
    assert "##vso[task.setvariable variable=FLEET_SLOTS]0" in prepared.stdout
    assert f"##vso[task.logissue type=error]Stale run: {why}" in prepared.stdout
    assert fleet.run("finish", "up", env=ado_env(fleet)).returncode == 1
    assert fleet.calls() == []
    # The plan of a re-run refuses too, and a preview is never refused.
    assert "Stale run" in fleet.run("plan", env=fleet.env(
        GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(tmp_path / "o"), FLEET_SELECT="all",
        FLEET_TIP="main", FLEET_OUT=str(tmp_path / "p"),
    )).stdout  # fmt: skip
    assert {r.returncode for r in github_shards(fleet, "preview", shards=1).values()} == {0}


def test_a_deploy_whose_tip_cannot_be_read_refuses(tmp_path: Path) -> None:
    fleet = FakeFleet(tmp_path, 2)
    (fleet.canned / "tip").unlink()  # the API answers nothing
    runs = github_shards(fleet, "up", shards=1)
    assert runs[0].returncode == 1
    assert "cannot read the tip of main" in runs[0].stdout
    assert fleet.calls() == []


def test_ado_re_run_of_a_shard_reports_its_latest_attempt(tmp_path: Path) -> None:
    fleet = FakeFleet(tmp_path, 3)
    artifacts = tmp_path / "artifacts"

    def attempt(number: int) -> None:
        # One Shard job attempt; its artifact is named with System.JobAttempt.
        out = artifacts / f"up-shard-0-attempt-{number}"
        env = ado_env(fleet, FLEET_OUT=str(out))
        fleet.run("prepare", "up", env=env)
        for slot in (1, 2, 3):
            fleet.run(
                "stack", "up", str(slot), env={**env, "idToken": "t", "servicePrincipalId": "sp"}
            )
        fleet.run("finish", "up", env=env)

    # Attempts 9 and 10: the 10th must win although "attempt-10" sorts before "attempt-9".
    fleet.fail("t002")
    attempt(9)
    (fleet.canned / "fail" / "t002").unlink()  # fixed in the tenant; "Rerun failed jobs"
    attempt(10)
    env = fleet.env(
        TF_BUILD="True", FLEET_OUT=str(tmp_path / "report"), FLEET_STACKS=json.dumps(fleet.stacks)
    )
    final = fleet.run("report", "up", str(artifacts), env=env)
    assert final.returncode == 0, final.stdout
    consolidated = json.loads((tmp_path / "report" / "fleet.json").read_text("utf-8"))
    assert consolidated["counts"] == {"ok": 3, "failed": 0, "blocked": 0}


# --- the nightly notice ---------------------------------------------------------------------

FAKE_GH = r"""#!/usr/bin/env bash
printf '%s\n' "$*" >> "$FAKE_GH_LOG"
if [ "$1 $2" = "issue list" ]; then cat "$FAKE_DIR/open-issues" 2> /dev/null; fi
exit 0
"""


@pytest.mark.parametrize("open_issue", ["41\n", ""], ids=["open", "none"])
def test_a_failed_night_comments_on_the_open_issue(tmp_path: Path, open_issue: str) -> None:
    fleet = FakeFleet(tmp_path, 1)
    gh = fleet.bin / "gh"
    gh.write_text(FAKE_GH, "utf-8")
    gh.chmod(0o755)
    (fleet.canned / "open-issues").write_text(open_issue, "utf-8")
    log = tmp_path / "gh.log"
    env = fleet.env(FAKE_GH_LOG=str(log), RUN_URL="https://github.invalid/runs/7")
    assert fleet.run("notify", env=env).returncode == 0
    calls = log.read_text("utf-8").splitlines()
    assert calls[0].startswith("issue list --state open")
    if open_issue:
        assert calls[1].startswith("issue comment 41 --body ")
    else:
        assert calls[1].startswith("issue create --title Nightly drift check failed --body ")
    assert calls[1].endswith("see the run summary at https://github.invalid/runs/7")
    assert len(calls) == 2


def test_an_audit_chunk_never_starts_on_a_token_about_to_expire(tmp_path: Path) -> None:
    # Azure DevOps: one id token for the whole report step (about 10 minutes). A chunk that
    # would start with less than two minutes left does not run, and the audit fails.
    fleet = FakeFleet(tmp_path, 3)
    github_shards(fleet, "drift", shards=1)
    run = ado_drift_report(fleet, idToken=jwt(60), servicePrincipalId="ado-audit", tenantId="t")
    assert run.returncode == 1
    assert "##vso[build.addbuildtag]audit-failed" in run.stdout
    assert [c for c in fleet.program_calls() if c[0] == "audit"] == []
    audit_md = (tmp_path / "report" / "audit.md").read_text("utf-8")
    assert "no federated token with two minutes left" in audit_md


def test_a_stack_whose_application_was_deleted_outside_pulumi_is_refused_alone(
    tmp_path: Path,
) -> None:
    """The refresh drops a deleted application from state and `up` would create a new one:
    a new client ID Mimecast does not know. That stack is refused; the others deploy."""
    fleet = FakeFleet(tmp_path, 6)
    for index, stack in enumerate(fleet.stacks):
        fleet.deployed(stack, f"aaaaaaaa-0000-4000-8000-00000000000{index}")
    fleet.recreates("t003")
    fleet.recreates("t005")
    runs = github_shards(fleet, "up", shards=1)
    ups = by_stack(fleet, "up")
    assert sorted(ups) == ["t001", "t002", "t004", "t006"]  # t003 and t005 never run `up`
    assert runs[0].returncode == 1
    final = report(fleet, "up")
    consolidated = json.loads((tmp_path / "report" / "fleet.json").read_text("utf-8"))
    assert consolidated["counts"] == {"ok": 4, "failed": 2, "blocked": 0}
    log = (tmp_path / "artifacts" / "shard-0" / "logs" / "t003.log").read_text("utf-8")
    assert "aaaaaaaa-0000-4000-8000-000000000002 of the last deploy was deleted outside" in log
    assert "directory/deletedItems/aaaaaaaa-0000-4000-8000-000000000002/restore" in log
    assert final.returncode == 1
    # Named override for one run: that stack may get a new application.
    fleet.commit("accept a new app for t003")
    github_shards(fleet, "up", shards=1, FLEET_ALLOW_NEW_APPLICATION="t003")
    assert len(by_stack(fleet, "up")["t003"]) == 1
    assert "t005" not in by_stack(fleet, "up")


def test_a_first_deploy_creates_its_application_without_an_extra_preview(tmp_path: Path) -> None:
    fleet = FakeFleet(tmp_path, 2)
    fleet.recreates("t001")  # no outputs yet: creating the application is the point
    github_shards(fleet, "up", shards=1)
    assert sorted(by_stack(fleet, "up")) == ["t001", "t002"]
    assert by_stack(fleet, "preview") == {}


def test_new_application_reads_only_a_create_of_the_application() -> None:
    app = "urn:pulumi:c::mimecast-association::mimecast:index:Association$"
    outputs = json.dumps({"applicationObjectId": "AAAAAAAA-0000-4000-8000-000000000001"})

    def preview(*steps: tuple[str, str]) -> str:
        return json.dumps({"steps": [{"op": op, "urn": app + urn} for op, urn in steps]})

    creates = preview(("create", "azuread:index/application:Application::m"))
    assert fleet_py.new_application("c", outputs, creates, [])
    assert "aaaaaaaa-0000-4000-8000-000000000001" in fleet_py.new_application(
        "c", outputs, creates, []
    )
    replaced = preview(("replace", "azuread:index/application:Application::m"))
    assert "would replace the application" in str(
        fleet_py.new_application("c", outputs, replaced, [])
    )
    other = preview(("create", "azuread:index/appRoleAssignment:AppRoleAssignment::m-x"))
    assert fleet_py.new_application("c", outputs, other, []) is None
    assert fleet_py.new_application("c", outputs, creates, ["c"]) is None
    assert fleet_py.new_application("c", "{}", creates, []) is None  # never deployed
    # The check fails closed: a preview that failed or gave no steps refuses too.
    assert "did not give its steps" in str(fleet_py.new_application("c", outputs, "not json", []))
    assert "exit 255" in str(fleet_py.new_application("c", outputs, preview(), [], 255))
    # A create of the application is its deletion outside Pulumi, whatever else failed.
    assert "was deleted outside" in str(fleet_py.new_application("c", outputs, creates, [], 255))
    no_urn = json.dumps({"steps": [{"op": "create", "urn": "x"}]})
    assert fleet_py.new_application("c", outputs, no_urn, []) is None


FIXTURES = Path(__file__).parent / "fixtures" / "preview"
GUARD = [
    # The certificate's Read has no not-found case: the refresh fails, naming the app's 404.
    ("deleted-application.json", 255, "b6e4099a-1d2c-4f7e-8a95-0c3e7d2b09f6", "deleted"),
    # An adopted app: the refresh drops it, the import of the gone object fails.
    ("deleted-adopted-application.json", 255, "b6e4109a-1d2c-4f7e-8a95-0c3e7d2b10f6", "deleted"),
    ("adopt-changed.json", 0, "b6e4119a-1d2c-4f7e-8a95-0c3e7d2b11f6", "adopted"),
    ("replace-application.json", 255, "b6e4129a-1d2c-4f7e-8a95-0c3e7d2b12f6", "replaced"),
]
EXPECTED = {
    "deleted": "of the last deploy was deleted outside Pulumi",
    "adopted": "in place of",
    "replaced": "pulumi up would replace the application",
}


@pytest.mark.parametrize(
    ("fixture", "status", "deployed", "case"), GUARD, ids=[g[0] for g in GUARD]
)
def test_the_guard_says_why_from_the_preview(
    fixture: str, status: int, deployed: str, case: str
) -> None:
    outputs = json.dumps(
        {
            "applicationObjectId": deployed,
            "servicePrincipalObjectId": deployed.replace("b6e4", "4d9c"),
        }
    )
    preview = (FIXTURES / fixture).read_text("utf-8")
    reason = fleet_py.new_application("s", outputs, preview, [], status)
    assert reason is not None
    assert [c for c, text in EXPECTED.items() if text in reason] == [case]
    assert "did not give its steps" not in reason  # never the generic message
    assert "FLEET_ALLOW_NEW_APPLICATION=s" in reason
    if case == "deleted":
        restore = "https://graph.microsoft.com/v1.0/directory/deletedItems"
        assert f"{restore}/{deployed}/restore" in reason
        assert f"{restore}/{deployed.replace('b6e4', '4d9c')}/restore" in reason
    if case == "adopted":
        assert "adopts the application c7f5119b-2e3d-4a8f-9b06-1d4f8e3c11a7 in place of" in reason
    if case == "replaced":
        assert "a change of templateId forces it" in reason
    assert fleet_py.new_application("s", outputs, preview, ["s"], status) is None


def test_a_not_found_of_another_object_is_no_deleted_application() -> None:
    """Only a read of the deployed application counts: another object's 404 (or an error that
    names the application without a not-found) leaves the check failing closed."""
    outputs = json.dumps({"applicationObjectId": "b6e4099a-1d2c-4f7e-8a95-0c3e7d2b09f6"})
    document = json.loads((FIXTURES / "deleted-application.json").read_text("utf-8"))
    message = document["diagnostics"][0]["message"]
    document["diagnostics"][0]["message"] = message.replace("b6e4099a", "c6e4099a")
    reason = fleet_py.new_application("s", outputs, json.dumps(document), [], 255)
    assert "did not give its steps" in str(reason)
    document["diagnostics"][0]["message"] = (
        "error: Preview failed: refreshing ...: Retrieving Application (Application: "
        '"b6e4099a-1d2c-4f7e-8a95-0c3e7d2b09f6"): unexpected status 403 (403 Forbidden)'
    )
    reason = fleet_py.new_application("s", outputs, json.dumps(document), [], 255)
    assert "did not give its steps" in str(reason)


@pytest.mark.parametrize(
    ("fixture", "status", "deployed", "case"), GUARD, ids=[g[0] for g in GUARD]
)
def test_the_deploy_refuses_that_stack_alone_and_logs_why(
    tmp_path: Path, fixture: str, status: int, deployed: str, case: str
) -> None:
    fleet = FakeFleet(tmp_path, 2)
    fleet.deployed("t001", deployed)
    fleet.deployed("t002", "aaaaaaaa-0000-4000-8000-000000000002")
    fleet.previews("t001", FIXTURES / fixture, status)
    runs = github_shards(fleet, "up", shards=1)
    assert runs[0].returncode == 1
    assert sorted(by_stack(fleet, "up")) == ["t002"]
    log = (tmp_path / "artifacts" / "shard-0" / "logs" / "t001.log").read_text("utf-8")
    assert "fleet: t001: refused: " in log
    assert EXPECTED[case] in log


def test_the_nightly_audit_reads_exchange_only_when_told_where(tmp_path: Path) -> None:
    fleet = FakeFleet(tmp_path, 3)
    github_shards(fleet, "drift", shards=1)
    report(fleet, "drift")
    (audit,) = [c for c in fleet.program_calls() if c[0] == "audit"]
    assert "--exchange-endpoint" not in audit[1]
    fleet.program_log.write_text("", "utf-8")
    report(fleet, "drift", FLEET_AUDIT_EXCHANGE_ENDPOINT="https://outlook.office365.com")
    (audit,) = [c for c in fleet.program_calls() if c[0] == "audit"]
    assert "--exchange-endpoint https://outlook.office365.com" in audit[1]


def test_the_audit_chunks_merge_into_one_document_with_each_run_note_once() -> None:
    note = {"code": "exchange-not-read", "setting": None, "message": "Exchange Online not read"}

    def chunk(stack: str, status: str, code: int) -> dict[str, Any]:
        return {
            "schemaVersion": 2,
            "status": status,
            "exitCode": code,
            "notes": [note],
            "stacks": [{"stack": stack}],
        }

    merged = fleet_py.merge_audits([chunk("a", "clean", 0), chunk("b", "findings", 3)])
    assert (merged["status"], merged["exitCode"]) == ("findings", 3)
    assert merged["notes"] == [note]
    assert [s["stack"] for s in merged["stacks"]] == ["a", "b"]
