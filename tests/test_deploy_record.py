"""scripts/deploy-record.py and the deploy's per-stack bases, with git history and fakes.

Each deploy run's report writes which commit every stack was last deployed at; the next
run's plan reads it back from the platform's run history (a fake curl here) and compares
each stack from its own commit, so one failing tenant is retried without dragging every
other tenant along.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.fake_pulumi import REPO, FakeFleet, github_plan, load_script, report

record = load_script("deploy_record", REPO / "scripts" / "deploy-record.py")

SHA = {name: name * 40 for name in "abcdef"}


def document(commits: dict[str, list[str]]) -> dict[str, Any]:
    return {"schemaVersion": 1, "commits": commits}


def zipped(text: str, name: str = "deploy-bases.json") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, text)
    return buffer.getvalue()


# --- the pure parts ---------------------------------------------------------------------


def gh_run(run_id: int, sha: str, **changes: Any) -> dict[str, Any]:
    run = {
        "id": run_id,
        "head_sha": sha,
        "conclusion": "success",
        "event": "push",
        "head_branch": "main",
        "head_repository": {"full_name": "acme/tenants"},
    }
    return {**run, **changes}


def test_history_on_github_counts_only_this_repositorys_main_deploys() -> None:
    runs = {
        "workflow_runs": [
            gh_run(9, "fork", head_repository={"full_name": "mallory/tenants"}),
            gh_run(8, "pr", event="pull_request"),
            gh_run(7, "branch", head_branch="feature"),
            gh_run(5, "old-success"),
            gh_run(6, "failed", conclusion="failure"),  # newer by id, listed later
            gh_run(4, "dispatched", event="workflow_dispatch"),
        ]
    }
    base, candidates = record.history("github", runs, "acme/tenants", "main")
    assert base == "old-success"
    assert candidates == ["6", "5", "4"]  # any conclusion may hold a record; newest first
    assert record.history("github", {"workflow_runs": []}, "acme/tenants", "main") == ("", [])


def test_history_on_azure_devops() -> None:
    builds = {
        "value": [
            {"id": 30, "sourceVersion": "x", "result": "failed"},
            {"id": 31, "sourceVersion": "y", "result": "partiallySucceeded"},
            {"id": 29, "sourceVersion": "z", "result": "succeeded"},
        ]
    }
    assert record.history("ado", builds, "", "main") == ("z", ["31", "30", "29"])


def test_record_url() -> None:
    github = {
        "artifacts": [
            {"name": "deploy-bases", "expired": True, "archive_download_url": "old"},
            {"name": "up-shard-0", "expired": False, "archive_download_url": "shard"},
            {"name": "deploy-bases", "expired": False, "archive_download_url": "fresh"},
        ]
    }
    assert record.record_url("github", github) == "fresh"
    assert record.record_url("github", {"artifacts": []}) == ""
    ado = {
        "value": [
            {"name": f"up-report-attempt-{n}", "resource": {"downloadUrl": f"u{n}"}}
            for n in (2, 10, 9)
        ]
        + [{"name": "up-shard-0-attempt-11", "resource": {"downloadUrl": "shard"}}]
    }
    assert record.record_url("ado", ado) == "u10"


def test_the_record_advances_only_the_stacks_that_deployed() -> None:
    previous = {SHA["a"]: ["t1", "t2", "t3"], SHA["b"]: ["t4"]}
    after = record.advanced(previous, SHA["c"], ["t1", "t4", "t9"])
    assert after == {SHA["a"]: ["t2", "t3"], SHA["c"]: ["t1", "t4", "t9"]}
    assert record.advanced({}, SHA["c"], []) == {}
    with pytest.raises(record.RecordError, match="not a commit"):
        record.advanced({}, "HEAD", ["t1"])


@pytest.mark.parametrize(
    "bad",
    [
        {"schemaVersion": 2, "commits": {}},
        {"schemaVersion": 1, "commits": {"HEAD": ["t1"]}},
        {"schemaVersion": 1, "commits": {SHA["a"]: ["$(id)"]}},
        {"schemaVersion": 1, "commits": {SHA["a"]: ["t1"], SHA["b"]: ["t1"]}},
        {"schemaVersion": 1, "commits": []},
        [],
    ],
)
def test_a_record_that_is_not_one_is_refused(bad: Any) -> None:
    with pytest.raises(record.RecordError):
        record.read_artifact(zipped(json.dumps(bad)))


def test_an_artifact_without_exactly_one_record_is_refused() -> None:
    with pytest.raises(record.RecordError, match="no single"):
        record.read_artifact(zipped("{}", "other.json"))
    with pytest.raises(record.RecordError, match="no zip"):
        record.read_artifact(b"<html>")
    # Azure DevOps zips the artifact's folder: the record sits one level down.
    text = json.dumps(document({SHA["a"]: ["t1"]}))
    assert record.read_artifact(zipped(text, "up-report-attempt-1/deploy-bases.json")) == {
        SHA["a"]: ["t1"]
    }


# --- one broken tenant, with git history -------------------------------------------------


class Deploys:
    """Deploy runs of a fake fleet on GitHub, each keeping its record as the next one's."""

    def __init__(self, fleet: FakeFleet) -> None:
        self.fleet = fleet
        self.runs: list[dict[str, Any]] = []
        (fleet.canned / "runs.json").write_text('{"workflow_runs": []}', "utf-8")

    def run(self) -> tuple[list[str], int]:
        """Plan, shards and report of one push; return the stacks it selected and its exit."""
        fleet, number = self.fleet, len(self.runs) + 1
        for folder in ("artifacts", "report", "plan"):
            target = fleet.root / folder
            if target.exists():
                for file in sorted(target.rglob("*"), reverse=True):
                    file.unlink() if file.is_file() else file.rmdir()
        outputs = github_plan(
            fleet,
            FLEET_BASE="last-deploy",
            FLEET_COMPARE="two-dot",
            FLEET_TIP="main",
            FLEET_SHARDS="2",
        )
        stacks = json.loads(outputs["stacks"])
        if not stacks:
            return [], 0
        for index in json.loads(outputs["shards"]):
            fleet.run(
                "shard",
                "up",
                env=fleet.env(
                    GITHUB_ACTIONS="true",
                    FLEET_OUT=str(fleet.root / "artifacts" / f"up-shard-{index}"),
                    FLEET_STACKS=outputs["stacks"],
                    SHARD_INDEX=str(index),
                    SHARD_COUNT=outputs["shard_count"],
                    ARM_CLIENT_ID="deploy-app",
                ),
            )
        final = report(fleet, "up", FLEET_STACKS=outputs["stacks"], FLEET_HEAD_SHA=outputs["head"],
                       FLEET_BASES=outputs["bases"])  # fmt: skip
        # The report's record becomes this run's artifact deploy-bases.
        kept = (fleet.root / "report" / "deploy-bases.json").read_text("utf-8")
        (fleet.canned / "record.zip").write_bytes(zipped(kept))
        url = f"https://record.invalid/runs/{number}/zip"
        (fleet.canned / "artifacts.json").write_text(
            json.dumps({"artifacts": [{"name": "deploy-bases", "archive_download_url": url}]}),
            "utf-8",
        )
        conclusion = "success" if final.returncode == 0 else "failure"
        self.runs.insert(0, gh_run(number, outputs["head"], conclusion=conclusion))
        (fleet.canned / "runs.json").write_text(json.dumps({"workflow_runs": self.runs}), "utf-8")
        return stacks, final.returncode


def test_a_failing_stack_keeps_being_selected_while_the_others_advance(tmp_path: Path) -> None:
    fleet = FakeFleet(tmp_path, 4)
    deploys = Deploys(fleet)
    fleet.fail("t002")
    # No history yet: every stack; t002 fails.
    assert deploys.run() == (fleet.stacks, 1)
    # A product change: every stack again; t002 still fails.
    fleet.commit("product", {"association.cfg": "x\n"})
    assert deploys.run() == (fleet.stacks, 1)
    # One tenant's change: that tenant, and t002 (never deployed); not the whole fleet,
    # although no run has succeeded since the product change.
    fleet.commit("t003", {"Pulumi.t003.yaml": f"config:\n  azuread:tenantId: {'3' * 8}-x\n"})
    assert deploys.run() == (["t002", "t003"], 1)
    # A change no stack loads: only t002 is retried.
    fleet.commit("docs", {"NOTES.md": "x\n"})
    assert deploys.run() == (["t002"], 1)
    # Fixed: t002 deploys, and from then on nothing is selected without a change.
    (fleet.canned / "fail" / "t002").unlink()
    assert deploys.run() == (["t002"], 0)
    fleet.commit("docs again", {"NOTES.md": "y\n"})
    assert deploys.run() == ([], 0)
    deployed_ups = [c.stack for c in fleet.calls() if c.argv.startswith("up ")]
    assert deployed_ups.count("t001") == 2  # the first run and the product change only


def test_without_a_readable_record_every_stack_starts_from_the_last_success(
    tmp_path: Path,
) -> None:
    fleet = FakeFleet(tmp_path, 3)
    deploys = Deploys(fleet)
    assert deploys.run() == (fleet.stacks, 0)
    (fleet.canned / "record.zip").write_bytes(b"not a zip")
    fleet.commit("t001", {"Pulumi.t001.yaml": "config: {}\n"})
    stacks, _ = deploys.run()
    assert stacks == ["t001"]  # from the last successful run's commit, for every stack


def test_bases_reads_a_downloaded_artifact_bounded(tmp_path: Path) -> None:
    artifact = tmp_path / "record.zip"
    artifact.write_bytes(zipped(json.dumps(document({SHA["a"]: ["t1"]}))))
    assert record.main(["bases", str(artifact)]) == 0
    artifact.write_bytes(b"x" * (record.MAX_ARTIFACT_BYTES + 1))
    assert record.main(["bases", str(artifact)]) == 2
