"""The CI pipelines keep the promises a schema cannot check.

check-jsonschema says the GitHub Actions (`.github/workflows/`) and Azure DevOps
(`pipelines/`) YAML is well formed; these tests hold the few properties that keep the
tenants safe, whatever the steps are called or print:

* triggers: previews on pull requests to main, deploys on pushes to main, drift on a
  schedule and by hand;
* no client secret anywhere: the pipelines authenticate with OIDC only;
* pull-request previews never run as the deploy identity;
* every `pulumi preview` and `pulumi up` gets the policy pack;
* one deployment at a time per stack.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GITHUB_DIR = ROOT / ".github" / "workflows"
ADO_DIR = ROOT / "pipelines"
PIPELINES = ("pull-request", "deploy", "drift")
PLATFORMS = ("github", "ado")


# --- reading the pipelines -------------------------------------------------------


def load(platform: str, name: str) -> dict[Any, Any]:
    """Parse one pipeline file; its top level must be a mapping."""
    folder = GITHUB_DIR if platform == "github" else ADO_DIR
    document = yaml.safe_load((folder / f"{name}.yml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def gh_on(workflow: dict[Any, Any]) -> dict[str, Any]:
    """Return the triggers; YAML 1.1 (PyYAML) reads the bare key `on` as True."""
    triggers = workflow["on"] if "on" in workflow else workflow[True]
    assert isinstance(triggers, dict)
    return triggers


def gh_jobs(workflow: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    jobs = workflow["jobs"]
    assert isinstance(jobs, dict)
    return jobs


def ado_jobs(pipeline: dict[Any, Any]) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any]]]:
    """Yield (stage or None, job) for a pipeline with or without stages."""
    for stage in pipeline.get("stages", []):
        for job in stage.get("jobs", []):
            yield stage, job
    for job in pipeline.get("jobs", []):
        yield None, job


def step_script(step: dict[str, Any]) -> str:
    """The shell a step runs ("" for none): GitHub `run`, ADO bash/script or inline script."""
    for key in ("run", "bash", "script"):
        if key in step:
            return str(step[key])
    return str(step.get("inputs", {}).get("inlineScript", ""))


def jobs_of(platform: str, document: dict[Any, Any]) -> list[dict[str, Any]]:
    if platform == "github":
        return list(gh_jobs(document).values())
    return [job for _, job in ado_jobs(document)]


SEPARATOR = re.compile(r"\s*(?:\|\||&&|\||;)\s*")


def pulumi_calls(script: str) -> list[list[str]]:
    """Every `pulumi ...` command line in a shell script, split into words.

    Backslash continuations are joined; only segments that start with `pulumi` count,
    so an `echo "pulumi up"` heading is not mistaken for a command.
    """
    calls = []
    for line in script.replace("\\\n", " ").splitlines():
        for segment in SEPARATOR.split(line.strip()):
            if segment.startswith("pulumi "):
                calls.append(shlex.split(segment))
    return calls


def job_calls(job: dict[str, Any]) -> list[list[str]]:
    return [call for step in job.get("steps", []) for call in pulumi_calls(step_script(step))]


def calls_of(platform: str, name: str, subcommand: str) -> list[list[str]]:
    return [
        call
        for job in jobs_of(platform, load(platform, name))
        for call in job_calls(job)
        if call[1] == subcommand
    ]


def has_option(call: list[str], option: str, value: str) -> bool:
    """True when the command line sets `option value` or `option=value`."""
    return f"{option}={value}" in call or any(
        a == option and b == value for a, b in itertools.pairwise(call)
    )


def test_pulumi_calls_parser_sees_through_continuations_and_pipes() -> None:
    script = 'echo "pulumi up"\npulumi up --yes \\\n  --policy-pack policy 2>&1 | tee up.txt\n'
    (call,) = pulumi_calls(script)
    assert call == ["pulumi", "up", "--yes", "--policy-pack", "policy", "2>&1"]
    assert has_option(call, "--policy-pack", "policy")
    assert has_option(["pulumi", "up", "--policy-pack=policy"], "--policy-pack", "policy")
    assert not has_option(["pulumi", "up", "--policy-pack", "other"], "--policy-pack", "policy")


# --- triggers ---------------------------------------------------------------------


def test_github_triggers() -> None:
    pull_request = gh_on(load("github", "pull-request"))
    assert pull_request["pull_request"]["branches"] == ["main"]

    deploy = gh_on(load("github", "deploy"))
    assert deploy["push"]["branches"] == ["main"]
    # Deploying is never a pull-request event (pull_request_target would even hand
    # unreviewed fork code the secrets).
    for name in PIPELINES:
        assert "pull_request_target" not in gh_on(load("github", name)), name
    assert "pull_request" not in deploy

    drift = gh_on(load("github", "drift"))
    assert "workflow_dispatch" in drift
    assert [entry["cron"] for entry in drift["schedule"]]


def test_ado_triggers() -> None:
    # Azure DevOps runs a pipeline on every push and, for GitHub repositories, on every
    # pull request unless `trigger:` / `pr:` say otherwise.
    pull_request = load("ado", "pull-request")
    assert pull_request["trigger"] == "none"
    assert pull_request["pr"]["branches"]["include"] == ["main"]

    deploy = load("ado", "deploy")
    assert deploy["trigger"]["branches"]["include"] == ["main"]
    assert deploy["pr"] == "none"

    # Manual runs need no trigger in Azure DevOps: every pipeline can be queued by hand.
    drift = load("ado", "drift")
    assert drift["trigger"] == "none"
    assert drift["pr"] == "none"
    assert drift["schedules"]
    for schedule in drift["schedules"]:
        assert schedule["branches"]["include"] == ["main"]
        # Drift happens in the tenants: the schedule must fire without new commits.
        assert str(schedule["always"]).lower() == "true"


# --- no client secret anywhere ------------------------------------------------------

FORBIDDEN = ("client-secret", "arm_client_secret", "azure_client_secret", "serviceprincipalkey")


def secret_words(text: str) -> list[str]:
    """The client-secret spellings found in a text, case-insensitively."""
    lowered = text.lower()
    return [word for word in FORBIDDEN if word in lowered]


def test_secret_scan_can_fail() -> None:
    step = "with:\n  client-secret: x\nenv:\n  ARM_CLIENT_SECRET: y\n  servicePrincipalKey: z\n"
    assert secret_words(step) == ["client-secret", "arm_client_secret", "serviceprincipalkey"]


def test_no_client_secret_anywhere() -> None:
    files = [*GITHUB_DIR.glob("*.yml"), *ADO_DIR.glob("*.yml"), *(ROOT / "scripts").iterdir()]
    found = {
        path.relative_to(ROOT).as_posix(): secret_words(path.read_text(encoding="utf-8"))
        for path in files
        if path.is_file()
    }
    assert found
    assert {path: words for path, words in found.items() if words} == {}


# --- the preview identity is not the deploy identity ---------------------------------

GH_VARIABLE = re.compile(r"\bvars\.(\w+)")
ADO_PARAMETER = re.compile(r"^\$\{\{\s*parameters\.(\w+)\s*\}\}$")


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


def identities(platform: str, name: str) -> set[str]:
    """The identities a pipeline signs in as.

    GitHub: the repository variables behind ARM_CLIENT_ID (job or step) and the azure/login
    client ID. Azure DevOps: the service connections of the steps that have one, with a
    `${{ parameters.X }}` reference resolved to the parameter's default.
    """
    document = load(platform, name)
    found: set[str] = set()
    for job in jobs_of(platform, document):
        if platform == "github":
            picks = [job.get("env", {}).get("ARM_CLIENT_ID", "")]
            for step in job.get("steps", []):
                picks.append(step.get("env", {}).get("ARM_CLIENT_ID", ""))
                if str(step.get("uses", "")).startswith("azure/login@"):
                    picks.append(step["with"]["client-id"])
            found.update(GH_VARIABLE.findall(" ".join(picks)))
            continue
        defaults = {p["name"]: p.get("default") for p in document.get("parameters", [])}
        for step in job.get("steps", []):
            connection = step.get("inputs", {}).get("azureSubscription")
            if connection is not None:
                parameter = ADO_PARAMETER.match(connection)
                found.add(str(defaults[parameter.group(1)]) if parameter else connection)
    return found


@pytest.mark.parametrize("platform", PLATFORMS)
def test_pull_requests_never_preview_as_the_deploy_identity(platform: str) -> None:
    preview = identities(platform, "pull-request")
    deploy = identities(platform, "deploy")
    assert preview
    assert deploy
    assert preview.isdisjoint(deploy), f"pull requests sign in as {preview}, deploys as {deploy}"
    # Nor may the deploy identity turn up anywhere else in the pull-request pipeline.
    texts = list(strings(load(platform, "pull-request")))
    for identity in deploy:
        pattern = rf"\bvars\.{identity}\b" if platform == "github" else re.escape(identity)
        assert not [text for text in texts if re.search(pattern, text)], identity


# --- the policy pack --------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("name", PIPELINES)
def test_every_preview_and_up_gets_the_policy_pack(platform: str, name: str) -> None:
    # The drift preview is the one exception: a read-only `--refresh --json` report for
    # `association drift`, which proposes no change for the pack to judge.
    subcommands = {"up"} if name == "drift" else {"preview", "up"}
    calls = [call for sub in subcommands for call in calls_of(platform, name, sub)]
    assert [call for call in calls if not has_option(call, "--policy-pack", "policy")] == []


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_gated_commands_are_there(platform: str) -> None:
    """Keeps the policy-pack test from passing on pipelines that lost their commands."""
    assert calls_of(platform, "pull-request", "preview")
    assert calls_of(platform, "deploy", "up")


# --- one deployment at a time per stack --------------------------------------------


def runs_up(job: dict[str, Any]) -> bool:
    return any(call[1] == "up" for call in job_calls(job))


def test_github_deploy_is_serialised_per_stack() -> None:
    workflow = load("github", "deploy")
    up_jobs = [job for job in gh_jobs(workflow).values() if runs_up(job)]
    assert up_jobs
    for job in up_jobs:
        assert re.search(r"\$\{\{[^}]*\bmatrix\.stack\b", job["concurrency"]["group"])
        # Cancelling a running update would leave the stack half-applied and locked.
        assert job["concurrency"].get("cancel-in-progress", False) is False
    # A workflow-wide group would serialise across stacks, and GitHub drops a pending run
    # for a newer one, which may not carry the same stacks.
    assert "concurrency" not in workflow


def test_ado_deploy_is_serialised_by_a_sequential_stage_lock() -> None:
    pipeline = load("ado", "deploy")
    # runLatest cancels waiting runs, which may carry stacks the latest run does not.
    assert pipeline.get("lockBehavior") != "runLatest"
    up_stages = [stage for stage, job in ado_jobs(pipeline) if runs_up(job)]
    assert up_stages
    for stage in up_stages:
        assert stage is not None, "pulumi up outside a stage cannot take the stage lock"
        assert stage.get("lockBehavior") == "sequential", stage.get("stage")
