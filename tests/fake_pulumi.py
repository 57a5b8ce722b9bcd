"""A fake fleet for the pipeline scripts: stack files, a fake `pulumi`, a fake program.

Only for testing the scripts' orchestration (sharding, gates, exit codes, what each
command is called with): the fakes record their argv and the sign-in environment and play
back canned outputs and exit codes per stack. They prove nothing about what the program
or Pulumi do. Each fake is a bash script using builtins only, so 300 stacks take seconds.

Canned behaviour, by files under `fleet.canned`:
  fail/<stack>             `pulumi preview|up` of that stack prints an error and exits
                           with the number in the file
  previews/<stack>.json    what `pulumi preview --json` of that stack prints (a fixture), and
                           previews/<stack>.rc its exit status
  sleep                    seconds every `pulumi preview|up` sleeps (benchmarks), noting
                           its start and end in `events`
  preflight-error/<stack>  the fake preflight reports an error for that stack
  preflight-warning/<stack>  ... a warning of its own (every stack has the fleet-wide one)
  drift-rc, audit-rc       exit status of the fake `association drift` / `audit`
  tip                      what the fake curl answers for a branch's tip (GitHub API)
  oidc-token               the federated token the fake curl hands out (a JWT)
  runs.json, artifacts.json, record.zip   the deploy history, a run's artifacts, the
                           downloaded deploy record
  api.json                 what the fake curl returns for any other API call

The project is a git repository (one commit; origin/main at it, as a fresh clone has).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
FLEET = REPO / "scripts" / "fleet.sh"


def load_script(name: str, path: Path) -> ModuleType:
    """Import a script of scripts/ (its file name need not be a module name), with its folder on
    sys.path as Python puts it there for a script it runs (for the modules beside it)."""
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


FAKE_PULUMI = r"""#!/bin/sh
stack="" prev=""
for arg in "$@"; do
  [ "$prev" = --stack ] && stack="$arg"
  prev="$arg"
done
[ "$1 $2" = "stack select" ] && stack="$prev"
stack="${stack##*/}"
ado="${SYSTEM_ACCESSTOKEN+set}${ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID+set}"
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$stack" "${ARM_OIDC_TOKEN-}" "${ARM_CLIENT_ID-}" \
  "${ARM_TENANT_ID-}" "${ARM_USE_OIDC-}" "$ado" "$*" >> "$FAKE_LOG"
case "$1" in
  login) exit 0 ;;
  config)
    while IFS= read -r line; do
      case "$line" in *azuread:tenantId:*) echo "${line##* }"; exit 0 ;; esac
    done < "Pulumi.$stack.yaml"
    exit 1 ;;
  stack)
    if [ "$2" = output ] && [ -e "$FAKE_DIR/deployed/$stack" ]; then
      printf '{"clientId": "app-%s", "applicationObjectId": "%s"}\n' "$stack" \
        "$(cat "$FAKE_DIR/deployed/$stack")"
    elif [ "$2" = output ]; then
      printf '{"clientId": "app-%s"}\n' "$stack"
    fi
    exit 0 ;;
  preview|up)
    if [ -r "$FAKE_DIR/sleep" ]; then
      read -r pause < "$FAKE_DIR/sleep"
      echo "start $stack" >> "$FAKE_DIR/events"
      sleep "$pause"
      echo "end $stack" >> "$FAKE_DIR/events"
    fi
    if [ -r "$FAKE_DIR/fail/$stack" ]; then
      read -r code < "$FAKE_DIR/fail/$stack"
      echo "error: canned failure of $stack"
      exit "$code"
    fi
    case " $* " in
      *" --json "*)
        urn="urn:pulumi:$stack::mimecast-association::pulumi:pulumi:Stack::mimecast-association"
        if [ -r "$FAKE_DIR/previews/$stack.json" ]; then
          cat "$FAKE_DIR/previews/$stack.json"
          read -r code < "$FAKE_DIR/previews/$stack.rc"
          exit "$code"
        elif [ -e "$FAKE_DIR/recreates/$stack" ]; then
          app="urn:pulumi:$stack::mimecast-association::mimecast:index:Association"
          printf '{"steps":[{"op":"create","urn":"%s$azuread:index/application:Application::m"}],' \
            "$app"
          printf '"changeSummary":{"create":1}}\n'
        else
          printf '{"steps":[{"op":"same","urn":"%s-%s"}],' "$urn" "$stack"
          printf '"changeSummary":{"same":1}}\n'
        fi ;;
      *) echo "Previewing update ($stack): 4 unchanged" ;;
    esac
    exit 0 ;;
esac
exit 0
"""

FAKE_PROGRAM = r"""#!/usr/bin/env bash
# Stands in for the program's Python: `python -m association preflight|drift|audit ...`.
command="$3"
shift 3
token=""
[ -n "${AZURE_FEDERATED_TOKEN_FILE-}" ] && token="$(cat "$AZURE_FEDERATED_TOKEN_FILE")"
printf '%s\t%s\t%s\n' "$command" "$*" "${AZURE_CLIENT_ID-}@${AZURE_TENANT_ID-}:$token" \
  >> "$FAKE_PY_LOG"
case "$command" in
  preflight)
    stacks=() seen=""
    for arg in "$@"; do
      if [ -n "$seen" ]; then stacks+=("$arg"); elif [ "$arg" = -- ]; then seen=1; fi
    done
    rc=0 sep=""
    ews='{"code": "ews-retirement", "setting": null, "message": "EWS is shut down on 2027-04-01."}'
    printf '{"stacks": ['
    for s in "${stacks[@]}"; do
      if [ -e "$FAKE_DIR/preflight-error/$s" ]; then
        printf '%s{"stack": "%s", "errors": [{"code": "certificate-expired", ' "$sep" "$s"
        printf '"setting": "certificates", "message": "certificates[0] expired on 2025-08-04"}]}'
        rc=1
      elif [ -e "$FAKE_DIR/preflight-warning/$s" ]; then
        printf '%s{"stack": "%s", "errors": [], "warnings": [%s, ' "$sep" "$s" "$ews"
        printf '{"code": "certificate-expiry", "setting": "certificates[0]", '
        printf '"message": "certificates[0] expires on 2026-12-20 (19 days left)."}]}'
      else
        printf '%s{"stack": "%s", "errors": [], "warnings": [%s]}' "$sep" "$s" "$ews"
      fi
      sep=", "
    done
    printf '], "summary": {"fleetWide": [%s]}}\n' "$ews"
    exit "$rc" ;;
  drift)
    [ -n "${REAL_PYTHON-}" ] && exec "$REAL_PYTHON" -m association drift "$@" ;;
esac
prev="" rc=0 stacks="" seen=""
[ -r "$FAKE_DIR/$command-rc" ] && read -r rc < "$FAKE_DIR/$command-rc"
for arg in "$@"; do
  if [ -n "$seen" ]; then stacks="$stacks${stacks:+,}{\"stack\": \"$arg\"}"; fi
  [ "$arg" = -- ] && seen=1
done
status=clean
case "$rc" in 0) ;; 3) status=findings ;; *) status=error ;; esac
for arg in "$@"; do
  case "$prev" in
    --markdown) echo "fake $command report" > "$arg" ;;
    --json) printf '{"schemaVersion": 1, "status": "%s", "exitCode": %s, "stacks": [%s]}\n' \
      "$status" "$rc" "$stacks" > "$arg" ;;
  esac
  prev="$arg"
done
exit "$rc"
"""

FAKE_CURL = r"""#!/usr/bin/env bash
printf '%s\n' "$*" >> "$FAKE_CURL_LOG"
url="${*: -1}"
case "$url" in
  *audience=*) printf '{"value": "%s"}' "$(cat "$FAKE_DIR/oidc-token")" ;;
  */commits/*) cat "$FAKE_DIR/tip" ;;
  */actions/workflows/*|*/_apis/build/builds\?*) cat "$FAKE_DIR/runs.json" ;;
  */artifacts\?*) cat "$FAKE_DIR/artifacts.json" ;;
  *record.invalid*) cat "$FAKE_DIR/record.zip" ;;
  *) cat "$FAKE_DIR/api.json" ;;
esac
"""


def jwt(lifetime: int = 300) -> str:
    """A token shaped like a federated token (unsigned), expiring `lifetime` s from now."""
    claims = {"exp": int(time.time()) + lifetime, "sub": "repo:acme/tenants:ref:refs/heads/main"}

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


def git(repo: Path, *args: str) -> str:
    """git in a throwaway repository, isolated from the user's configuration."""
    result = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid",
         "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=repo, capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(repo), "GIT_CONFIG_NOSYSTEM": "1"},
    )  # fmt: skip
    return result.stdout.strip()


def tenant_of(index: int) -> str:
    return f"{index:08d}-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Call:
    """One recorded `pulumi` call."""

    stack: str
    oidc_token: str
    client_id: str
    tenant_id: str
    use_oidc: str
    ado_system_token: str
    argv: str


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


class FakeFleet:
    """A project directory with `count` stack files and fakes first on PATH."""

    def __init__(self, root: Path, count: int) -> None:
        self.root = root
        self.project = root / "project"
        self.canned = root / "canned"
        self.bin = root / "bin"
        for folder in (self.project, self.canned, self.bin):
            folder.mkdir(parents=True)
        self.stacks = [f"t{i:03d}" for i in range(1, count + 1)]
        (self.project / "Pulumi.yaml").write_text("name: mimecast-association\n", "utf-8")
        for index, stack in enumerate(self.stacks, start=1):
            (self.project / f"Pulumi.{stack}.yaml").write_text(
                f"config:\n  azuread:tenantId: {tenant_of(index)}\n", "utf-8"
            )
        for name, text in (("pulumi", FAKE_PULUMI), ("program", FAKE_PROGRAM), ("curl", FAKE_CURL)):
            path = self.bin / name
            path.write_text(text, "utf-8")
            path.chmod(0o755)
        self.pulumi_log = root / "pulumi.log"
        self.program_log = root / "program.log"
        self.curl_log = root / "curl.log"
        self.oidc_token = jwt()
        (self.canned / "oidc-token").write_text(self.oidc_token, "utf-8")
        git(self.project, "init", "-q")
        self.commit("the fleet")

    def commit(self, message: str, files: Mapping[str, str] | None = None) -> str:
        """Commit (all files, or these), move origin/main and main's tip to it; its id."""
        for name, text in (files or {}).items():
            (self.project / name).write_text(text, "utf-8")
        git(self.project, "add", "-A")
        git(self.project, "commit", "-q", "--allow-empty", "-m", message)
        head = git(self.project, "rev-parse", "HEAD")
        self.move_tip(head)
        return head

    def move_tip(self, commit: str) -> None:
        """main's tip as the platforms see it: origin/main (Azure DevOps), the API (GitHub)."""
        git(self.project, "update-ref", "refs/remotes/origin/main", commit)
        (self.canned / "tip").write_text(commit, "utf-8")

    def checkout(self, commit: str) -> None:
        """What a re-run's checkout gives: the run's own commit."""
        git(self.project, "checkout", "-q", "--detach", commit)

    def env(self, **extra: str) -> dict[str, str]:
        base = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "HOME": str(self.root),
            "LC_ALL": "C.UTF-8",
            "FAKE_DIR": str(self.canned),
            "FAKE_LOG": str(self.pulumi_log),
            "FAKE_PY_LOG": str(self.program_log),
            "FAKE_CURL_LOG": str(self.curl_log),
            "ASSOCIATION_PYTHON": str(self.bin / "program"),
            "PULUMI_BACKEND_URL": "azblob://state?storage_account=acct",
            "GITHUB_REPOSITORY": "acme/tenants",  # read only where GITHUB_ACTIONS is set
            "GITHUB_TOKEN": "job-token",
        }
        return {**base, **extra}

    def run(self, *args: str, env: Mapping[str, str]) -> Run:
        result = subprocess.run(
            ["bash", str(FLEET), *args],
            cwd=self.project,
            env=dict(env),
            capture_output=True,
            text=True,
            check=False,
        )
        return Run(result.returncode, result.stdout, result.stderr)

    def fail(self, stack: str, code: int = 255) -> None:
        (self.canned / "fail").mkdir(exist_ok=True)
        (self.canned / "fail" / stack).write_text(f"{code}\n", "utf-8")

    def deployed(self, stack: str, application: str) -> None:
        """The stack's outputs name this application (its last deploy made it)."""
        (self.canned / "deployed").mkdir(exist_ok=True)
        (self.canned / "deployed" / stack).write_text(application, "utf-8")

    def recreates(self, stack: str) -> None:
        """Its `preview --json` creates an Application (deleted outside Pulumi)."""
        (self.canned / "recreates").mkdir(exist_ok=True)
        (self.canned / "recreates" / stack).write_text("", "utf-8")

    def previews(self, stack: str, document: Path, status: int = 0) -> None:
        """Its `preview --json` prints this document (a fixture) and exits with `status`."""
        (self.canned / "previews").mkdir(exist_ok=True)
        (self.canned / "previews" / f"{stack}.json").write_bytes(document.read_bytes())
        (self.canned / "previews" / f"{stack}.rc").write_text(f"{status}\n", "utf-8")

    def preflight_warning(self, stack: str) -> None:
        """The fake preflight reports a certificate expiring in 19 days for that stack."""
        (self.canned / "preflight-warning").mkdir(exist_ok=True)
        (self.canned / "preflight-warning" / stack).write_text("", "utf-8")

    def preflight_error(self, stack: str) -> None:
        (self.canned / "preflight-error").mkdir(exist_ok=True)
        (self.canned / "preflight-error" / stack).write_text("", "utf-8")

    def exit_status(self, command: str, code: int) -> None:
        (self.canned / f"{command}-rc").write_text(f"{code}\n", "utf-8")

    def calls(self) -> list[Call]:
        if not self.pulumi_log.exists():
            return []
        return [
            Call(*line.split("\t"))
            for line in self.pulumi_log.read_text("utf-8").splitlines()
            if line
        ]

    def program_calls(self) -> list[list[str]]:
        if not self.program_log.exists():
            return []
        return [line.split("\t") for line in self.program_log.read_text("utf-8").splitlines()]


def read_outputs(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a GITHUB_OUTPUT file."""
    pairs = (line.split("=", 1) for line in path.read_text("utf-8").splitlines() if "=" in line)
    return dict(pairs)


def github_plan(fleet: FakeFleet, **env: str) -> dict[str, str]:
    """Run `fleet.sh plan` as GitHub would; return its job outputs."""
    output = fleet.root / "plan-output"
    output.unlink(missing_ok=True)
    settings = {"GITHUB_OUTPUT": str(output), "FLEET_OUT": str(fleet.root / "plan"), **env}
    run = fleet.run("plan", env=fleet.env(GITHUB_ACTIONS="true", **settings))
    assert run.returncode == 0, run.stderr
    return read_outputs(output)


def plan_shards(fleet: FakeFleet, shards: int, **env: str) -> tuple[list[str], list[int]]:
    """Plan every stack in `shards` shards; return the stacks and the shard indexes."""
    outputs = github_plan(fleet, FLEET_SELECT="all", FLEET_SHARDS=str(shards), **env)
    return json.loads(outputs["stacks"]), json.loads(outputs["shards"])


def github_shards(fleet: FakeFleet, mode: str, shards: int, **env: str) -> dict[int, Run]:
    """Plan, then run every shard as its own GitHub job; results under root/artifacts/."""
    stacks, indexes = plan_shards(fleet, shards)
    runs = {}
    for index in indexes:
        runs[index] = fleet.run(
            "shard",
            mode,
            env=fleet.env(
                GITHUB_ACTIONS="true",
                GITHUB_STEP_SUMMARY=str(fleet.root / f"summary-{index}.md"),
                FLEET_OUT=str(fleet.root / "artifacts" / f"shard-{index}"),
                FLEET_STACKS=json.dumps(stacks),
                SHARD_INDEX=str(index),
                SHARD_COUNT=str(len(indexes)),
                ARM_CLIENT_ID="github-client",
                ACTIONS_ID_TOKEN_REQUEST_URL="https://token.invalid/?x=1",
                ACTIONS_ID_TOKEN_REQUEST_TOKEN="request-token",
                **env,
            ),
        )
    return runs


def report(fleet: FakeFleet, mode: str, **env: str) -> Run:
    """The final GitHub job: every shard's artifacts into one report."""
    return fleet.run(
        "report",
        mode,
        str(fleet.root / "artifacts"),
        env=fleet.env(
            **{
                "GITHUB_ACTIONS": "true",
                "GITHUB_STEP_SUMMARY": str(fleet.root / "report-summary.md"),
                "FLEET_OUT": str(fleet.root / "report"),
                "FLEET_STACKS": json.dumps(fleet.stacks),
                # A stray ARM_CLIENT_ID (the preview app) must never become the audit's
                # identity; FLEET_AUDIT_CLIENT_ID (vars.AZURE_AUDIT_CLIENT_ID) is.
                "ARM_CLIENT_ID": "github-client",
                "FLEET_AUDIT_CLIENT_ID": "github-audit-client",
                "AZURE_TENANT_ID": "home-tenant",
                "RUNNER_TEMP": str(fleet.root),
                "ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.invalid/?x=1",
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token",
                **env,
            }
        ),
    )
