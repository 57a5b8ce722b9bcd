"""The CI pipelines keep the promises a schema cannot check.

check-jsonschema says the GitHub Actions (`.github/`) and Azure DevOps (`pipelines/`)
YAML is well formed; these tests hold the properties that keep the tenants safe:

* triggers: previews on pull requests to main, deploys on pushes to main (and a manual
  reconcile-all run), drift on a schedule and by hand;
* no client secret anywhere: the pipelines authenticate with OIDC only;
* a pull request never signs in as the deploy identity, never gets the deploy
  environment, the deploy variable group or System.AccessToken;
* the audit identity (Directory.Read.All in every tenant) only in the drift pipeline's
  audit step, never in a pull-request workflow or pipeline;
* the deploy identity only inside the protected environment (GitHub) / behind the
  deploy service connection's checks (Azure DevOps), with fixed connection names;
* every action pinned by commit SHA with its version in a comment;
* re-runs: Azure DevOps artifacts named per attempt (the report reads the latest), GitHub
  uploads that a re-run may replace; deploy jobs that can check their own commit and keep
  the deploy record; one FLEET_CONCURRENCY per run; the deploy stage waiting for the
  Exclusive Lock in order;
* every pipeline runs scripts/fleet.sh, the same commands on both platforms; the
  `pulumi` calls themselves are checked by behaviour in tests/test_fleet.py.

Azure DevOps templates use template expressions (`${{ each }}`, `${{ if }}`) that the
published schema cannot read, so the pipelines are expanded here (a small expander for
exactly the expressions used) and the expanded documents are schema-checked.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GITHUB_DIR = ROOT / ".github" / "workflows"
ACTIONS_DIR = ROOT / ".github" / "actions"
ADO_DIR = ROOT / "pipelines"
PIPELINES = ("pull-request", "deploy", "drift")


def load_file(path: Path) -> dict[Any, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def github(name: str) -> dict[Any, Any]:
    return load_file(GITHUB_DIR / f"{name}.yml")


def gh_on(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The triggers; YAML 1.1 (PyYAML) reads the bare key `on` as True."""
    triggers = workflow["on"] if "on" in workflow else workflow[True]
    assert isinstance(triggers, dict)
    return triggers


def strings(node: object) -> Iterator[str]:
    """Every string (keys and values) in a parsed YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


# --- Azure DevOps template expansion ----------------------------------------------------

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
EACH = re.compile(r"^each (\w+) in (.+)$")


def evaluate(expression: str, scope: dict[str, Any]) -> Any:
    """The expressions the templates use: literals, names, eq/ne/length."""
    expression = expression.strip()
    call = re.fullmatch(r"(eq|ne|length)\((.*)\)", expression)
    if call:
        args = [evaluate(a, scope) for a in re.split(r",\s*(?![^()]*\))", call.group(2))]
        if call.group(1) == "length":
            return len(args[0])
        equal = str(args[0]).lower() == str(args[1]).lower()
        return equal if call.group(1) == "eq" else not equal
    if expression.startswith("'") and expression.endswith("'"):
        return expression[1:-1]
    value: Any = scope
    for part in expression.split("."):
        value = value[part]
    return value


def substitute(text: str, scope: dict[str, Any]) -> Any:
    whole = EXPRESSION.fullmatch(text)
    if whole:
        return evaluate(whole.group(1), scope)
    return EXPRESSION.sub(lambda m: str(evaluate(m.group(1), scope)), text)


def directive(key: object) -> str | None:
    """`if ...`, `else` or `each ...` of a `${{ }}` key; None for a plain value."""
    if isinstance(key, str):
        match = EXPRESSION.fullmatch(key)
        if match and re.match(r"^(if |each |else$)", match.group(1)):
            return match.group(1)
    return None


def expand(node: Any, scope: dict[str, Any], folder: Path) -> Any:
    if isinstance(node, str):
        return substitute(node, scope)
    if isinstance(node, dict):
        result: dict[Any, Any] = {}
        for key, value in node.items():
            found = directive(key)
            if found is None:
                result[substitute(key, scope) if isinstance(key, str) else key] = expand(
                    value, scope, folder
                )
            elif (each := EACH.match(found)) is not None:
                for pair in evaluate(each.group(2), scope).items():
                    inner = {**scope, each.group(1): {"key": pair[0], "value": pair[1]}}
                    result.update(expand(value, inner, folder))
            elif found.startswith("if "):
                if evaluate(found[3:], scope):
                    result.update(expand(value, scope, folder))
            else:
                raise AssertionError(f"unexpected template directive {found}")
        return result
    if isinstance(node, list):
        items: list[Any] = []
        previous_if: bool | None = None
        for item in node:
            found = (
                directive(next(iter(item))) if isinstance(item, dict) and len(item) == 1 else None
            )
            if found is None:
                previous_if = None
                if isinstance(item, dict) and "template" in item:
                    items.extend(template(folder / item["template"], item, scope))
                else:
                    items.append(expand(item, scope, folder))
                continue
            body = next(iter(item.values()))
            if (each := EACH.match(found)) is not None:
                for element in evaluate(each.group(2), scope):
                    items.extend(expand(body, {**scope, each.group(1): element}, folder))
            elif found.startswith("if "):
                previous_if = bool(evaluate(found[3:], scope))
                if previous_if:
                    items.extend(expand(body, scope, folder))
            elif found == "else":
                assert previous_if is not None, "else without if"
                if not previous_if:
                    items.extend(expand(body, scope, folder))
            else:
                raise AssertionError(f"unexpected template directive {found}")
        return items
    return node


def template(path: Path, use: dict[str, Any], scope: dict[str, Any]) -> list[Any]:
    """A steps or jobs template with its parameters' defaults and the caller's values."""
    document = load_file(path)
    given = expand(use.get("parameters", {}), scope, path.parent)
    parameters = {p["name"]: p.get("default") for p in document["parameters"]}
    unknown = set(given) - set(parameters)
    assert not unknown, f"{path.name}: unknown parameters {unknown}"
    for declared in document["parameters"]:
        name = declared["name"]
        if name in given and "values" in declared:
            assert given[name] in declared["values"], (path.name, name, given[name])
        assert name in given or "default" in declared, f"{path.name}: {name} is required"
    body = document.get("jobs", document.get("steps"))
    return list(expand(body, {"parameters": {**parameters, **given}}, path.parent))


def ado(name: str) -> dict[Any, Any]:
    """An Azure DevOps pipeline with its templates expanded (run parameters: defaults)."""
    document = load_file(ADO_DIR / f"{name}.yml")
    parameters = {p["name"]: p.get("default") for p in document.get("parameters", [])}
    expanded = expand(document, {"parameters": parameters}, ADO_DIR)
    assert isinstance(expanded, dict)
    return expanded


def ado_jobs(pipeline: dict[Any, Any]) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any]]]:
    for stage in pipeline.get("stages", []):
        for job in stage.get("jobs", []):
            yield stage, job
    for job in pipeline.get("jobs", []):
        yield None, job


def ado_steps(pipeline: dict[Any, Any]) -> Iterator[dict[str, Any]]:
    for _, job in ado_jobs(pipeline):
        yield from job.get("steps", [])


def test_expanded_azure_devops_pipelines_match_the_published_schema(tmp_path: Path) -> None:
    files = []
    for name in PIPELINES:
        target = tmp_path / f"{name}.yml"
        target.write_text(yaml.safe_dump(ado(name)), encoding="utf-8")
        files.append(str(target))
    checker = Path(sys.executable).parent / "check-jsonschema"
    schema = ["--regex-variant", "nonunicode", "--builtin-schema", "vendor.azure-pipelines"]
    result = subprocess.run(
        [str(checker), *schema, *files], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_expander_reads_the_template_as_written() -> None:
    pipeline = ado("pull-request")
    jobs = {job["job"]: job for _, job in ado_jobs(pipeline)}
    assert list(jobs) == ["Tests", "Plan", "Shard", "Report"]
    slots = [s for s in jobs["Shard"]["steps"] if s.get("task") == "AzureCLI@2"]
    assert len(slots) == 40
    assert slots[6]["inputs"]["arguments"] == "stack preview 7"
    assert slots[6]["condition"] == "and(not(canceled()), le(7, variables['FLEET_SLOTS']))"
    plan_env = jobs["Plan"]["steps"][1]["env"]
    assert plan_env["FLEET_STEPS"] == 40
    assert plan_env["FLEET_BASE"] == "HEAD^1"
    assert "SYSTEM_ACCESSTOKEN" not in plan_env
    assert "Tests" not in [job["job"] for _, job in ado_jobs(ado("drift"))]


# --- triggers ------------------------------------------------------------------------------


def test_github_triggers() -> None:
    assert gh_on(github("pull-request"))["pull_request"]["branches"] == ["main"]
    deploy = gh_on(github("deploy"))
    assert deploy["push"]["branches"] == ["main"]
    # The manual run reconciles every stack by default.
    stacks = deploy["workflow_dispatch"]["inputs"]["stacks"]
    assert stacks["default"] == "all"
    assert set(stacks["options"]) == {"all", "changed"}
    # pull_request_target would hand unreviewed fork code the secrets.
    for name in PIPELINES:
        assert "pull_request_target" not in gh_on(github(name)), name
        assert "workflow_run" not in gh_on(github(name)), name
    assert "pull_request" not in deploy
    drift = gh_on(github("drift"))
    assert "workflow_dispatch" in drift
    assert [entry["cron"] for entry in drift["schedule"]]


def test_ado_triggers() -> None:
    pull_request = load_file(ADO_DIR / "pull-request.yml")
    assert pull_request["trigger"] == "none"
    assert pull_request["pr"]["branches"]["include"] == ["main"]
    deploy = load_file(ADO_DIR / "deploy.yml")
    assert deploy["trigger"]["branches"]["include"] == ["main"]
    assert deploy["pr"] == "none"
    (stacks,) = deploy["parameters"]
    assert set(stacks["values"]) == {"changed", "all"}
    drift = load_file(ADO_DIR / "drift.yml")
    assert drift["trigger"] == "none"
    assert drift["pr"] == "none"
    for schedule in drift["schedules"]:
        assert schedule["branches"]["include"] == ["main"]
        assert str(schedule["always"]).lower() == "true"


# --- no client secret anywhere ---------------------------------------------------------------

FORBIDDEN = ("client-secret", "arm_client_secret", "azure_client_secret", "serviceprincipalkey")


def secret_words(text: str) -> list[str]:
    lowered = text.lower()
    return [word for word in FORBIDDEN if word in lowered]


def test_secret_scan_can_fail() -> None:
    step = "with:\n  client-secret: x\nenv:\n  ARM_CLIENT_SECRET: y\n  servicePrincipalKey: z\n"
    assert secret_words(step) == ["client-secret", "arm_client_secret", "serviceprincipalkey"]


def test_no_client_secret_anywhere() -> None:
    files = [
        *GITHUB_DIR.glob("*.yml"),
        *ACTIONS_DIR.glob("*/action.yml"),
        *ADO_DIR.rglob("*.yml"),
        *(p for p in (ROOT / "scripts").iterdir() if p.is_file()),
    ]
    found = {p.relative_to(ROOT).as_posix(): secret_words(p.read_text("utf-8")) for p in files}
    assert len(found) > 10
    assert {path: words for path, words in found.items() if words} == {}


# --- who signs in where ------------------------------------------------------------------

GH_VARIABLE = re.compile(r"\bvars\.(\w+)")
DEPLOY_SECRETS = ("PULUMI_ACCESS_TOKEN",)


def gh_identities(workflow: dict[Any, Any]) -> set[str]:
    """Repository variables behind ARM_CLIENT_ID and every client-id input."""
    picks = []
    for job in workflow["jobs"].values():
        picks.append(str(job.get("env", {}).get("ARM_CLIENT_ID", "")))
        for step in job.get("steps", []):
            picks.append(str(step.get("env", {}).get("ARM_CLIENT_ID", "")))
            picks.append(str(step.get("with", {}).get("client-id", "")))
    return set(GH_VARIABLE.findall(" ".join(picks)))


def test_github_pull_requests_and_drift_never_sign_in_as_the_deploy_app() -> None:
    deploy = gh_identities(github("deploy"))
    assert deploy == {"AZURE_CLIENT_ID"}
    assert gh_identities(github("pull-request")) == {"AZURE_PREVIEW_CLIENT_ID"}
    assert gh_identities(github("drift")) == {"AZURE_PREVIEW_CLIENT_ID", "AZURE_AUDIT_CLIENT_ID"}
    for name in ("pull-request", "drift"):
        workflow = github(name)
        texts = list(strings(workflow))
        assert not [t for t in texts if re.search(r"\bvars\.AZURE_CLIENT_ID\b", t)], name
        # Neither the deploy environment nor its write secret.
        assert all("environment" not in job for job in workflow["jobs"].values()), name
        assert not [t for t in texts if re.search(r"\bsecrets\.PULUMI_ACCESS_TOKEN\b", t)], name


# --- the audit identity: Directory.Read.All, never within reach of a pull request -----------

AUDIT_NAMES = ("AZURE_AUDIT_CLIENT_ID", "FLEET_AUDIT_CLIENT_ID", "mimecast-association-audit")


def audit_references(text: str) -> list[str]:
    return [name for name in AUDIT_NAMES if name.lower() in text.lower()]


def test_the_audit_reference_scan_can_fail() -> None:
    step = "env:\n  ARM_CLIENT_ID: ${{ vars.azure_audit_client_id }}\n"
    assert audit_references(step) == ["AZURE_AUDIT_CLIENT_ID"]
    assert audit_references("azureSubscription: mimecast-association-audit") == [
        "mimecast-association-audit"
    ]


def test_no_pull_request_workflow_or_pipeline_names_the_audit_identity() -> None:
    # As written (comments included) and, on Azure DevOps, expanded with its templates.
    for path in (GITHUB_DIR / "pull-request.yml", ADO_DIR / "pull-request.yml"):
        assert audit_references(path.read_text("utf-8")) == [], path.name
    assert audit_references(yaml.safe_dump(ado("pull-request"))) == []
    # Deploys have their own identity; composite actions serve every workflow.
    assert audit_references((GITHUB_DIR / "deploy.yml").read_text("utf-8")) == []
    assert audit_references(yaml.safe_dump(ado("deploy"))) == []
    for action in ACTIONS_DIR.glob("*/action.yml"):
        assert audit_references(action.read_text("utf-8")) == [], action
    # Every workflow a pull request runs: none may name it.
    for path in GITHUB_DIR.glob("*.yml"):
        if "pull_request" in gh_on(load_file(path)) or "pull_request_target" in gh_on(
            load_file(path)
        ):
            assert audit_references(path.read_text("utf-8")) == [], path.name


def test_github_audit_identity_only_in_the_drift_report_jobs_audit() -> None:
    workflow = github("drift")
    # Scheduled and manual runs only: the audit app trusts repo:ORG/REPO:ref:refs/heads/main.
    assert set(gh_on(workflow)) == {"schedule", "workflow_dispatch"}
    holders = {
        name for name, job in workflow["jobs"].items() if audit_references(yaml.safe_dump(job))
    }
    assert holders == {"report"}
    report = workflow["jobs"]["report"]
    assert report["permissions"]["id-token"] == "write"
    texts = list(strings(report))
    # The report job holds no other identity: not the preview app, not the deploy app.
    assert not [t for t in texts if "AZURE_PREVIEW_CLIENT_ID" in t or "ARM_CLIENT_ID" in t]
    assert not [t for t in texts if re.search(r"\bvars\.AZURE_CLIENT_ID\b", t)]
    steps = report["steps"]
    (audit_step,) = [s for s in steps if "scripts/fleet.sh report drift" in str(s.get("run"))]
    assert audit_step["env"]["FLEET_AUDIT_CLIENT_ID"] == "${{ vars.AZURE_AUDIT_CLIENT_ID }}"
    (login,) = [s for s in steps if "client-id" in s.get("with", {})]
    assert login["with"]["client-id"] == "${{ vars.AZURE_AUDIT_CLIENT_ID }}"
    # Without the audit identity: no sign-in at all (scripts/fleet.sh then fails the audit,
    # "Audit failed", and still makes the drift report; tests/test_fleet.py), never another.
    assert login["if"] == "vars.AZURE_AUDIT_CLIENT_ID != ''"
    # The drift shards (which also run on main) sign in as the preview app only.
    assert gh_identities({"jobs": {"drift": workflow["jobs"]["drift"]}}) == {
        "AZURE_PREVIEW_CLIENT_ID"
    }


def test_ado_audit_connection_only_in_the_drift_report_step() -> None:
    holders = [
        (job["job"], step.get("displayName"), step["inputs"].get("arguments"))
        for _, job in ado_jobs(ado("drift"))
        for step in job.get("steps", [])
        if step.get("inputs", {}).get("azureSubscription") == "mimecast-association-audit"
    ]
    assert holders == [
        (
            "Report",
            "One drift report, then the audit (audit connection)",
            "report drift $(Pipeline.Workspace)/shards",
        )
    ]
    shard_connections = {
        step["inputs"]["azureSubscription"]
        for _, job in ado_jobs(ado("drift"))
        if job["job"] == "Shard"
        for step in job["steps"]
        if "azureSubscription" in step.get("inputs", {})
    }
    assert shard_connections == {"mimecast-association-preview"}
    # The template can name no other audit connection, and uses none unless told to.
    declared = {p["name"]: p for p in load_file(ADO_DIR / "templates" / "fleet.yml")["parameters"]}
    assert declared["auditServiceConnection"]["default"] == "none"
    assert declared["auditServiceConnection"]["values"] == ["none", "mimecast-association-audit"]


def test_github_deploy_identity_only_in_the_protected_environment() -> None:
    workflow = github("deploy")
    for name, job in workflow["jobs"].items():
        texts = list(strings(job))
        uses_deploy = any(
            re.search(r"\bvars\.AZURE_CLIENT_ID\b|\bsecrets\.PULUMI_ACCESS_TOKEN\b", t)
            for t in texts
        )
        if uses_deploy or job.get("permissions", {}).get("id-token") == "write":
            assert job.get("environment") == "mimecast-association", name
    assert workflow["concurrency"] == {"group": "deploy", "cancel-in-progress": False}


def test_github_token_permissions_are_least() -> None:
    for name in PIPELINES:
        workflow = github(name)
        assert workflow["permissions"] == {}, name
        for job_name, job in workflow["jobs"].items():
            granted = job.get("permissions", {})
            assert set(granted) <= {"contents", "id-token", "actions", "issues"}, job_name
            assert granted.get("contents", "read") == "read", job_name
            assert "issues" not in granted or name == "drift", job_name


def ado_connections(pipeline: dict[Any, Any]) -> set[str]:
    return {
        str(step["inputs"]["azureSubscription"])
        for step in ado_steps(pipeline)
        if "azureSubscription" in step.get("inputs", {})
    }


def ado_groups(name: str) -> set[str]:
    document = load_file(ADO_DIR / f"{name}.yml")
    return {v["group"] for v in document["variables"] if isinstance(v, dict) and "group" in v}


def test_ado_pull_requests_and_drift_never_get_the_deploy_connection_or_group() -> None:
    assert ado_connections(ado("deploy")) == {"mimecast-association-deploy"}
    assert ado_groups("deploy") == {"mimecast-association-deploy"}
    assert ado_connections(ado("pull-request")) == {"mimecast-association-preview"}
    assert ado_connections(ado("drift")) == {
        "mimecast-association-preview",
        "mimecast-association-audit",
    }
    for name in ("pull-request", "drift"):
        assert ado_groups(name) == {"mimecast-association-preview"}, name
        texts = list(strings(ado(name)))
        assert not [t for t in texts if "deploy" in t and "mimecast-association" in t], name
        # Neither System.AccessToken nor the deploy's Pulumi Cloud token.
        assert not [t for t in texts if "system.accesstoken" in t.lower()], name
        assert not [t for t in texts if t == "$(PULUMI_ACCESS_TOKEN)"], name


def test_ado_service_connections_are_fixed_names_not_run_parameters() -> None:
    for name in PIPELINES:
        document = load_file(ADO_DIR / f"{name}.yml")
        for parameter in document.get("parameters", []):
            assert parameter["type"] != "string" or "values" in parameter, parameter["name"]
        for connection in ado_connections(ado(name)):
            assert "$" not in connection, connection


def test_ado_system_access_token_only_in_the_deploy_plan_step() -> None:
    holders = [
        (job["job"], step.get("name"))
        for _, job in ado_jobs(ado("deploy"))
        for step in job.get("steps", [])
        if any("System.AccessToken" in t for t in strings(step))
    ]
    assert holders == [("Plan", "plan")]


def test_ado_stack_steps_get_a_fresh_id_token_each() -> None:
    for name in PIPELINES:
        for step in ado_steps(ado(name)):
            if step.get("task") == "AzureCLI@2":
                assert step["inputs"]["addSpnToEnvironment"] is True
                assert step["inputs"]["scriptPath"] == "scripts/fleet.sh"
                assert "keepAzSessionActive" not in step["inputs"]


def test_ado_deploy_waits_for_the_exclusive_lock_in_order() -> None:
    # The Exclusive Lock check lives on the deploy connection (docs/pipelines.md); the stage asks
    # for it: every job that uses the connection is in the one stage that says `sequential`
    # (runs wait in order; `runLatest` would drop older runs' stacks).
    pipeline = ado("deploy")
    (stage,) = pipeline["stages"]
    assert stage["lockBehavior"] == "sequential"
    users = [
        job["job"]
        for job in stage["jobs"]
        for step in job.get("steps", [])
        if step.get("inputs", {}).get("azureSubscription") == "mimecast-association-deploy"
    ]
    assert set(users) == {"Shard"}
    assert "jobs" not in pipeline


# --- re-runs, the deploy record, concurrency ----------------------------------------------


def ado_job(name: str, job_name: str) -> dict[str, Any]:
    (job,) = [job for _, job in ado_jobs(ado(name)) if job["job"] == job_name]
    return job


def artifact_names(job: dict[str, Any]) -> list[str]:
    return [
        step["inputs"]["artifact"]
        for step in job["steps"]
        if step.get("task") == "PublishPipelineArtifact@1"
    ]


@pytest.mark.parametrize("name", PIPELINES)
def test_ado_artifacts_are_named_per_attempt_and_the_report_reads_the_latest(name: str) -> None:
    mode = {"pull-request": "preview", "deploy": "up", "drift": "drift"}[name]
    (shard_artifact,) = artifact_names(ado_job(name, "Shard"))
    (report_artifact,) = artifact_names(ado_job(name, "Report"))
    assert report_artifact == f"{mode}-report-attempt-$(System.JobAttempt)"
    # What two attempts of shard 3 publish, as the Report job's download finds them.
    published = [
        shard_artifact.replace("$(SHARD_INDEX)", "3").replace("$(System.JobAttempt)", str(n))
        for n in (1, 2)
    ]
    assert len(set(published)) == 2  # a re-run never publishes a name that exists
    (download,) = [
        s for s in ado_job(name, "Report")["steps"] if s.get("task") == "DownloadPipelineArtifact@2"
    ]
    pattern = download["inputs"]["itemPattern"].removesuffix("/**")
    assert all(fnmatch.fnmatch(artifact, pattern) for artifact in published)
    fleet = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fleet.py"), "latest", *published],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert fleet.stdout.split() == [published[1]]


@pytest.mark.parametrize("name", PIPELINES)
def test_github_uploads_can_be_repeated_by_a_re_run(name: str) -> None:
    # upload-artifact refuses a name the run already has, and a re-run job is the same run:
    # without `overwrite` a re-run shard could not replace its results.
    uploads = [
        step
        for job in github(name)["jobs"].values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    assert uploads
    assert all(step["with"]["overwrite"] is True for step in uploads)


def test_ado_stack_steps_cover_what_the_plan_puts_in_a_job() -> None:
    plan = ado_job("deploy", "Plan")
    shard = ado_job("deploy", "Shard")
    slots = [step for step in shard["steps"] if step.get("task") == "AzureCLI@2"]
    (plan_step,) = [s for s in plan["steps"] if s.get("name") == "plan"]
    assert plan_step["env"]["FLEET_STEPS"] == len(slots)
    # Every step's group and the prepare step's count use the same FLEET_CONCURRENCY: a
    # pipeline variable, so it is the same in every job of a run.
    for name in PIPELINES:
        variables = load_file(ADO_DIR / f"{name}.yml")["variables"]
        assert {"name": "FLEET_CONCURRENCY", "value": "4"} in variables, name
        for _, job in ado_jobs(ado(name)):
            for step in job.get("steps", []):
                assert "FLEET_CONCURRENCY" not in step.get("env", {}), (name, step)


@pytest.mark.parametrize("name", PIPELINES)
def test_github_jobs_of_a_run_use_one_concurrency(name: str) -> None:
    values = {
        str(step.get("env", {}).get("FLEET_CONCURRENCY"))
        for job in github(name)["jobs"].values()
        for step in job.get("steps", [])
        if "scripts/fleet.sh plan" in str(step.get("run"))
        or "fleet.sh shard" in str(step.get("run"))
    }
    assert values == {"${{ vars.FLEET_CONCURRENCY || '4' }}"}


def test_github_deploy_jobs_can_check_their_commit_and_keep_the_record() -> None:
    jobs = github("deploy")["jobs"]
    for job_name in ("plan", "deploy"):
        (step,) = [s for s in jobs[job_name]["steps"] if "scripts/fleet.sh" in str(s.get("run"))]
        assert step["env"]["FLEET_TIP"] == "main", job_name
        assert step["env"]["GITHUB_TOKEN"] == "${{ github.token }}", job_name
        assert jobs[job_name]["permissions"]["contents"] == "read"
    assert jobs["plan"]["permissions"]["actions"] == "read"  # the run history and its artifacts
    report_steps = jobs["report"]["steps"]
    (run,) = [s for s in report_steps if "scripts/fleet.sh report up" in str(s.get("run"))]
    assert run["env"]["FLEET_HEAD_SHA"] == "${{ needs.plan.outputs.head }}"
    assert run["env"]["FLEET_BASES"] == "${{ needs.plan.outputs.bases }}"
    assert set(jobs["plan"]["outputs"]) >= {"head", "bases"}
    (keep,) = [s for s in report_steps if s.get("with", {}).get("name") == "deploy-bases"]
    assert keep["if"] == "always()"  # a failed stack must not lose the others' progress
    assert keep["with"]["path"] == "fleet-out/deploy-bases.json"


def test_ado_deploy_report_gets_the_plans_record_and_commit() -> None:
    variables = ado_job("deploy", "Report")["variables"]
    assert variables["FLEET_HEAD_SHA"] == "$[ dependencies.Plan.outputs['plan.head'] ]"
    assert variables["FLEET_BASES"] == "$[ dependencies.Plan.outputs['plan.bases'] ]"


def test_github_nightly_failure_goes_through_fleet_notify() -> None:
    notify = github("drift")["jobs"]["notify"]
    assert notify["permissions"] == {"contents": "read", "issues": "write"}
    assert [s.get("run") for s in notify["steps"] if "run" in s] == ["scripts/fleet.sh notify"]


# --- pinned actions -----------------------------------------------------------------------

USES = re.compile(r"^\s*(?:- )?uses: (\S+)(.*)$", re.MULTILINE)
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def uses_lines() -> list[tuple[str, str, str]]:
    found = []
    for path in [*GITHUB_DIR.glob("*.yml"), *ACTIONS_DIR.glob("*/action.yml")]:
        for match in USES.finditer(path.read_text("utf-8")):
            found.append((path.name, match.group(1), match.group(2)))
    return found


def test_every_action_is_pinned_by_sha_with_its_version() -> None:
    lines = uses_lines()
    remote = [(f, ref, rest) for f, ref, rest in lines if not ref.startswith("./")]
    assert len(remote) > 10
    for file, ref, rest in remote:
        assert PINNED.match(ref), (file, ref)
        assert re.match(r"^ # v\d+\.\d+\.\d+$", rest), (file, ref, rest)
    # One version per action everywhere.
    versions: dict[str, set[str]] = {}
    for _, ref, rest in remote:
        versions.setdefault(ref.split("@")[0], set()).add(ref + rest)
    assert {action: len(refs) for action, refs in versions.items()} == dict.fromkeys(versions, 1)


def test_checkouts_do_not_persist_credentials() -> None:
    for name in PIPELINES:
        for job in github(name)["jobs"].values():
            for step in job.get("steps", []):
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False


# --- one implementation ---------------------------------------------------------------------


def shell_of(step: dict[str, Any]) -> str:
    for key in ("run", "bash", "script"):
        if key in step:
            return str(step[key])
    inputs = step.get("inputs", {})
    return f"{inputs.get('scriptPath', '')} {inputs.get('arguments', '')}".strip()


@pytest.mark.parametrize("name", PIPELINES)
def test_both_platforms_run_the_same_fleet_commands(name: str) -> None:
    mode = {"pull-request": "preview", "deploy": "up", "drift": "drift"}[name]
    gh_runs = [
        str(step.get("run", ""))
        for job in github(name)["jobs"].values()
        for step in job.get("steps", [])
    ]
    ado_runs = [shell_of(step) for step in ado_steps(ado(name))]
    for runs in (gh_runs, ado_runs):
        text = "\n".join(runs)
        assert "scripts/fleet.sh plan" in text
        assert f"scripts/fleet.sh report {mode}" in text
        # No pulumi command is written into a pipeline file: they are in scripts/fleet.sh.
        assert not re.search(r"(^|\s)pulumi (up|preview|destroy|refresh)\b", text)
    assert f"scripts/fleet.sh shard {mode}" in "\n".join(gh_runs)
    assert f"scripts/fleet.sh stack {mode} 1" in "\n".join(ado_runs)
