"""scripts/fleet.sh and scripts/fleet.py: the fleet in shards, by behaviour.

The scripts run for real (bash, git, Python) against the fakes of tests/fake_pulumi.py,
which record every `pulumi` call with its sign-in environment. What is checked is the
orchestration only: which stack runs where, with which command and identity, and what
the jobs report and exit with.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.fake_pulumi import (
    REPO,
    FakeFleet,
    github_shards,
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


def test_gate_blocks_only_stacks_with_errors() -> None:
    preflight = json.dumps(
        {"stacks": [{"stack": "a", "errors": []}, {"stack": "b", "errors": ["expired\n x"]}]}
    )
    gates = fleet_py.gate(["a", "b", "c"], preflight, 1)
    assert [(g.stack, g.status) for g in gates] == [("a", "ok"), ("b", "blocked"), ("c", "blocked")]
    assert gates[1].reason == "preflight: expired x"
    assert gates[2].reason == "preflight did not report this stack"
    # No JSON at all (a crash, a usage error): nothing runs, and it says why.
    assert {g.reason for g in fleet_py.gate(["a", "b"], "", 2)} == {
        "preflight did not run (exit 2); see the shard's log"
    }


def github_runs(*runs: dict[str, Any]) -> dict[str, Any]:
    return {"workflow_runs": list(runs)}


def gh_run(sha: str, **changes: Any) -> dict[str, Any]:
    run = {
        "head_sha": sha,
        "conclusion": "success",
        "event": "push",
        "head_branch": "main",
        "head_repository": {"full_name": "acme/tenants"},
    }
    return {**run, **changes}


def test_last_deploy_on_github_skips_runs_that_are_not_main_deploys() -> None:
    document = github_runs(
        gh_run("fork", head_repository={"full_name": "mallory/tenants"}),
        gh_run("pr", event="pull_request"),
        gh_run("failed", conclusion="failure"),
        gh_run("dispatched", event="workflow_dispatch"),
        gh_run("older"),
    )
    assert fleet_py.last_deploy("github", document, "acme/tenants", "main") == "dispatched"
    assert fleet_py.last_deploy("github", github_runs(), "acme/tenants", "main") == ""


def test_last_deploy_on_azure_devops() -> None:
    document = {"count": 1, "value": [{"sourceVersion": "abc123"}]}
    assert fleet_py.last_deploy("ado", document, "", "main") == "abc123"
    assert fleet_py.last_deploy("ado", {"count": 0, "value": []}, "", "main") == ""


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
    assert "::error title=Deploy failed::stacks: t042 t137" in final.stdout
    consolidated = json.loads((tmp_path / "report" / "fleet.json").read_text("utf-8"))
    assert consolidated["counts"] == {"ok": 298, "failed": 1, "blocked": 1}
    summary = (tmp_path / "report-summary.md").read_text("utf-8")
    assert "300 stacks, 298 ok, 1 failed, 1 blocked by preflight" in summary
    assert "| `t042` | blocked | preflight: certificates[0] expired on 2025-08-04 |" in summary


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
    return fleet.env(
        TF_BUILD="True",
        FLEET_OUT=str(fleet.root / "ado"),
        FLEET_STACKS=json.dumps(fleet.stacks),
        SHARD_INDEX="0",
        SHARD_COUNT="1",
        AGENT_TEMPDIRECTORY=str(fleet.root),
        # What Azure DevOps maps into a step by mistake must never reach the provider.
        SYSTEM_ACCESSTOKEN="ado-system-token",
        ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID="connection",
        **extra,
    )


def test_ado_hands_each_stack_its_own_steps_id_token(tmp_path: Path) -> None:
    fleet = FakeFleet(tmp_path, 5)
    fleet.preflight_error("t002")
    prepared = fleet.run("prepare", "up", env=ado_env(fleet))
    assert prepared.returncode == 0, prepared.stderr
    assert "##vso[task.setvariable variable=FLEET_QUEUE]4" in prepared.stdout
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
    (audit,) = [c for c in programs if c[0] == "audit"]
    assert drift is programs[-2]  # the audit runs after the drift report
    assert audit[1].count("--outputs ") == 300
    assert "--outputs t001=" in audit[1]
    assert sorted(audit[1].split(" -- ")[1].split(" ")) == fleet.stacks
    # Signed in as the audit identity (never the job's ARM_CLIENT_ID, the preview app) with
    # a freshly requested federated token.
    assert audit[2] == "github-audit-client@home-tenant:github-oidc-token"
    assert not (tmp_path / "fleet-federated-token").exists()
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


def test_ado_report_outside_the_audit_connections_step_does_not_audit(tmp_path: Path) -> None:
    fleet = FakeFleet(tmp_path, 2)
    github_shards(fleet, "drift", shards=1)
    env = fleet.env(
        TF_BUILD="True",
        FLEET_OUT=str(tmp_path / "report"),
        FLEET_STACKS=json.dumps(fleet.stacks),
        AGENT_TEMPDIRECTORY=str(tmp_path),
        ARM_CLIENT_ID="ado-preview",  # a stray client ID is no audit identity
    )
    run = fleet.run("report", "drift", str(tmp_path / "artifacts"), env=env)
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
    run = fleet.run(
        "report",
        "drift",
        str(tmp_path / "artifacts"),
        env=fleet.env(
            TF_BUILD="True",
            FLEET_OUT=str(tmp_path / "report"),
            FLEET_STACKS=json.dumps(fleet.stacks),
            AGENT_TEMPDIRECTORY=str(tmp_path),
            idToken="ado-id-token",
            servicePrincipalId="ado-audit",  # the audit connection's AzureCLI@2 step
            tenantId="ado-home",
        ),
    )
    assert run.returncode == 3
    assert "##vso[task.logissue type=error]Audit findings: the audit found" in run.stdout
    assert "##vso[build.addbuildtag]audit-findings" in run.stdout
    (audit,) = [c for c in fleet.program_calls() if c[0] == "audit"]
    assert audit[2] == "ado-audit@ado-home:ado-id-token"


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
