#!/usr/bin/env bash
# Run Pulumi over the fleet of tenant stacks in shards. One implementation for GitHub
# Actions and Azure DevOps: the workflow and pipeline files only install, sign in and
# call this script.
#
#   scripts/fleet.sh plan                select stacks (scripts/changed-stacks.py) and shard them
#   scripts/fleet.sh shard MODE          a whole shard in one step (GitHub Actions)
#   scripts/fleet.sh prepare MODE        Azure DevOps: gate the shard's stacks, queue the rest
#   scripts/fleet.sh stack MODE N        Azure DevOps: the N-th queued stack, each in its own
#                                        AzureCLI@2 step, so each gets a fresh id token
#   scripts/fleet.sh finish MODE         the shard's summary; exit 1 if a stack failed
#   scripts/fleet.sh report MODE DIR...  every shard's results (DIR/*/...) as one report;
#                                        for drift also the drift report and the audit
#
# MODE: preview (pull requests), up (deploys: `pulumi up --refresh`), drift (nightly:
# `pulumi preview --refresh --json` and `pulumi stack output --json` per stack).
#
# Per stack: preflight errors block only that stack (preview, up); a failing stack never
# stops the others; the shard and the report fail at the end, naming the stacks.
# Pulumi's and the program's output go to files (logs/, the summaries, the artifact),
# never to the job's log: tenants' data (a display name set in the portal) must not
# reach the runner's command stream (`::...::`, `##vso[...]`).
#
# Environment:
#   FLEET_OUT           this job's output directory (default fleet-out)
#   FLEET_STACKS        the planned stacks, a JSON list (shard, prepare, report)
#   SHARD_INDEX, SHARD_COUNT  which shard this job runs (shard, prepare)
#   ASSOCIATION_PYTHON  the program's interpreter (default venv/bin/python)
#   plan: FLEET_SELECT (changed | all), FLEET_BASE (a commit, or "last-deploy"),
#         FLEET_HEAD, FLEET_COMPARE (merge-base | two-dot), FLEET_TIP, FLEET_SHARDS
#         (default 10), FLEET_MAX_PER_SHARD (0: none)
#   report drift: FLEET_AUDIT_CLIENT_ID (GitHub: the audit app's client ID)
# Identity: GitHub sets ARM_CLIENT_ID and id-token: write (the provider fetches its own
# fresh OIDC tokens through ACTIONS_ID_TOKEN_REQUEST_*). Azure DevOps runs `stack` inside
# AzureCLI@2 with addSpnToEnvironment: its $idToken becomes ARM_OIDC_TOKEN and its
# $servicePrincipalId ARM_CLIENT_ID, the only OIDC inputs pulumi-azuread reads there.
# The audit (report drift) signs in as the AUDIT identity only, never as the job's
# ARM_CLIENT_ID: GitHub FLEET_AUDIT_CLIENT_ID (vars.AZURE_AUDIT_CLIENT_ID), Azure DevOps
# the $servicePrincipalId of the AzureCLI@2 step on the audit service connection. It
# holds Directory.Read.All, which the read-only preview identity must not (pull requests
# sign in as that one).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${FLEET_OUT:-fleet-out}"
py="${ASSOCIATION_PYTHON:-venv/bin/python}"
stack_name='^[A-Za-z0-9_.-]+$'

# --- talking to the CI platform ----------------------------------------------------------

gh_escape() {
  local text="${1//'%'/%25}"
  text="${text//$'\r'/%0D}"
  printf '%s' "${text//$'\n'/%0A}"
}

# Azure DevOps decodes %3B %0D %0A %5D in a command's data (agent: CommandStringConvertor);
# "%" itself only behind a knob, so it is left as it is.
ado_escape() {
  local text="${1//$'\r'/%0D}"
  text="${text//$'\n'/%0A}"
  text="${text//;/%3B}"
  printf '%s' "${text//]/%5D}"
}

# ci_error TITLE MESSAGE: an error annotation with its own title (the label).
ci_error() {
  if [ "${GITHUB_ACTIONS-}" = true ]; then
    printf '::error title=%s::%s\n' "$(gh_escape "$1")" "$(gh_escape "$2")"
  elif [ "${TF_BUILD-}" = True ]; then
    printf '##vso[task.logissue type=error]%s\n' "$(ado_escape "$1: $2")"
  else
    printf 'error: %s: %s\n' "$1" "$2" >&2
  fi
}

# ci_tag TAG: Azure DevOps run tag (the run list shows why a run is red).
ci_tag() {
  if [ "${TF_BUILD-}" = True ]; then
    printf '##vso[build.addbuildtag]%s\n' "$(ado_escape "$1")"
  fi
}

# ci_summary FILE: Markdown shown on the run's summary page.
ci_summary() {
  if [ -n "${GITHUB_STEP_SUMMARY-}" ]; then
    cat "$1" >> "$GITHUB_STEP_SUMMARY"
  elif [ "${TF_BUILD-}" = True ]; then
    printf '##vso[task.uploadsummary]%s\n' "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
  fi
}

# ci_output NAME VALUE [job]: a job output (GitHub) / output variable (Azure DevOps); with
# "job", an Azure DevOps variable for the later steps of this job only.
ci_output() {
  if [ -n "${GITHUB_OUTPUT-}" ]; then
    printf '%s=%s\n' "$1" "$2" >> "$GITHUB_OUTPUT"
  elif [ "${TF_BUILD-}" = True ]; then
    if [ "${3-}" = job ]; then
      printf '##vso[task.setvariable variable=%s]%s\n' "$1" "$(ado_escape "$2")"
    else
      printf '##vso[task.setvariable variable=%s;isOutput=true]%s\n' "$1" "$(ado_escape "$2")"
    fi
  fi
  printf '%s=%s\n' "$1" "$2" >&2
}

die() {
  echo "fleet: $*" >&2
  exit 2
}

check_mode() {
  case "${1-}" in
    preview | up | drift) ;;
    *) die "MODE must be preview, up or drift, not '${1-}'" ;;
  esac
}

# --- plan ----------------------------------------------------------------------------------

# The commit of the last successful deploy of main, from the platform's run history
# ("" when there is none or the history cannot be read: then every stack is deployed).
last_deploy() {
  local api
  if [ "${GITHUB_ACTIONS-}" = true ]; then
    api="${GITHUB_API_URL:-https://api.github.com}/repos/${GITHUB_REPOSITORY}/actions/workflows"
    api+="/deploy.yml/runs?branch=main&status=success&per_page=100"
    curl -fsS -H "Authorization: Bearer ${GITHUB_TOKEN-}" -H "Accept: application/vnd.github+json" \
      "$api" | python3 "$here/fleet.py" last-deploy --platform github \
      --repository "$GITHUB_REPOSITORY" --branch main
  elif [ "${TF_BUILD-}" = True ]; then
    api="${SYSTEM_COLLECTIONURI}${SYSTEM_TEAMPROJECTID}/_apis/build/builds"
    api+="?definitions=${SYSTEM_DEFINITIONID}&branchName=refs/heads/main"
    api+="&statusFilter=completed&resultFilter=succeeded"
    api+="&queryOrder=finishTimeDescending&\$top=1&api-version=7.1"
    curl -fsS -H "Authorization: Bearer ${SYSTEM_ACCESSTOKEN-}" "$api" |
      python3 "$here/fleet.py" last-deploy --platform ado
  fi
}

plan() {
  local args=(--format json) base="${FLEET_BASE-}" stacks outputs line
  if [ "${FLEET_SELECT:-changed}" = all ]; then
    args+=(--all)
  else
    if [ "$base" = last-deploy ]; then
      base="$(last_deploy)" || base=""
      echo "fleet: last successful deploy: ${base:-none (every stack)}" >&2
    fi
    args+=(--base "$base" --head "${FLEET_HEAD:-HEAD}")
    if [ "${FLEET_COMPARE:-merge-base}" = two-dot ]; then args+=(--two-dot); fi
    if [ -n "${FLEET_TIP-}" ]; then args+=(--tip "$FLEET_TIP"); fi
  fi
  mkdir -p "$out"
  if ! stacks="$(python3 "$here/changed-stacks.py" "${args[@]}" 2> "$out/plan.log")"; then
    cat "$out/plan.log" >&2
    ci_error "Stacks not selected" "$(grep '^error:' "$out/plan.log" | head -c 4000)"
    exit 1
  fi
  cat "$out/plan.log" >&2
  outputs="$(printf '%s' "$stacks" | python3 "$here/fleet.py" plan \
    --shards "${FLEET_SHARDS:-10}" --max-per-shard "${FLEET_MAX_PER_SHARD:-0}")"
  while IFS= read -r line; do
    ci_output "${line%%=*}" "${line#*=}"
  done <<< "$outputs"
}

# --- one shard -------------------------------------------------------------------------------

record() {
  printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$out/results.tsv"
}

prepare() {
  local mode="$1" rc=0
  mkdir -p "$out/logs" "$out/previews" "$out/outputs"
  : > "$out/results.tsv"
  printf '%s' "${FLEET_STACKS:-[]}" |
    python3 "$here/fleet.py" shard --index "${SHARD_INDEX:?}" --count "${SHARD_COUNT:?}" \
      > "$out/shard.txt"
  local stacks=()
  mapfile -t stacks < "$out/shard.txt"
  if [ "$mode" = drift ] || [ "${#stacks[@]}" -eq 0 ]; then
    # The drift preview only reads: a stack the program refuses shows in the drift report
    # with the program's own message, and the audit still covers it.
    cp "$out/shard.txt" "$out/queue.txt"
  else
    "$py" -m association preflight --json - --require-owners --jobs 2 -- "${stacks[@]}" \
      > "$out/preflight.json" 2> "$out/logs/preflight.log" || rc=$?
    python3 "$here/fleet.py" gate --preflight "$out/preflight.json" --exit-status "$rc" \
      -- "${stacks[@]}" > "$out/gate.tsv"
    awk -F '\t' '$2 == "ok" { print $1 }' "$out/gate.tsv" > "$out/queue.txt"
    awk -F '\t' '$2 != "ok"' "$out/gate.tsv" >> "$out/results.tsv"
  fi
  local queued
  queued="$(wc -l < "$out/queue.txt" | tr -d ' ')"
  echo "fleet: shard ${SHARD_INDEX} of ${SHARD_COUNT}: ${#stacks[@]} stacks, $queued to run" >&2
  ci_output FLEET_QUEUE "$queued" job
}

# sign_in: the identity for every stack this process runs, then the backend login (once).
# Azure DevOps: this AzureCLI@2 step's id token (fresh: the step signed in just now).
sign_in() {
  export ARM_USE_OIDC=true ARM_USE_CLI=false
  # Only the token itself goes to the provider; never the service connection id with
  # System.AccessToken (the Terraform provider's route, which pulumi-azuread ignores).
  unset ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID ARM_OIDC_AZURE_SERVICE_CONNECTION_ID \
    SYSTEM_ACCESSTOKEN ARM_OIDC_TOKEN_FILE_PATH
  if [ -n "${idToken-}" ]; then
    export ARM_OIDC_TOKEN="$idToken" ARM_CLIENT_ID="${servicePrincipalId-}"
  elif [ "${TF_BUILD-}" = True ]; then
    echo "fleet: no \$idToken: run 'stack' in AzureCLI@2 with addSpnToEnvironment: true" \
      "on a workload identity federation service connection" >&2
    return 1
  fi
  # shellcheck source=scripts/pulumi-stack-env.sh
  source "$here/pulumi-stack-env.sh" --login
}

# run_stack MODE STACK: Pulumi for one stack, in a subshell so that nothing one stack
# exports (its tenant) reaches the next.
run_stack() (
  local mode="$1" stack="$2" rc=0
  # shellcheck source=scripts/pulumi-stack-env.sh
  source "$here/pulumi-stack-env.sh" "$stack" || return 1
  case "$mode" in
    preview)
      pulumi preview --stack "$STACK_REF" --diff --policy-pack policy \
        --non-interactive --color never
      ;;
    up)
      # --refresh: reconcile what changed in the tenant (a consent deleted in the portal
      # is recreated), not only what changed in the repository.
      pulumi up --yes --refresh --policy-pack policy --stack "$STACK_REF" --diff \
        --non-interactive --color never
      ;;
    drift)
      # A failed preview still writes its JSON (with the diagnostics) for the report.
      pulumi preview --stack "$STACK_REF" --refresh --json --non-interactive \
        > "$out/previews/$stack.json" || rc=$?
      if ! pulumi stack output --json --stack "$STACK_REF" > "$out/outputs/$stack.json"; then
        rm -f "$out/outputs/$stack.json"
        echo "fleet: pulumi stack output failed: the audit leaves $stack out" >&2
        rc=$((rc ? rc : 1))
      fi
      return "$rc"
      ;;
  esac
)

# run_all MODE STACK...: sign in once, then each stack; a failed sign-in fails them all.
run_all() {
  local mode="$1" stack
  shift
  if ! sign_in >> "$out/logs/sign-in.log" 2>&1; then
    for stack in "$@"; do
      record "$stack" failed "sign-in failed; see logs/sign-in.log"
      echo "fleet: $stack: FAILED (sign-in)" >&2
    done
    return 0
  fi
  for stack in "$@"; do run_one "$mode" "$stack"; done
}

# run_one MODE STACK: run one stack, record its result; never fails the caller.
run_one() {
  local mode="$1" stack="$2" rc=0
  [[ "$stack" =~ $stack_name ]] || die "not a stack name: '$stack'"
  run_stack "$mode" "$stack" > "$out/logs/$stack.log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    record "$stack" ok ""
    echo "fleet: $stack: ok" >&2
  else
    record "$stack" failed "exit $rc; see logs/$stack.log"
    echo "fleet: $stack: FAILED (exit $rc)" >&2
  fi
}

stack_slot() {
  local mode="$1" slot="$2" stack
  [[ "$slot" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number, not '$slot'"
  stack="$(sed -n "${slot}p" "$out/queue.txt")"
  if [ -n "$stack" ]; then run_all "$mode" "$stack"; fi
}

finish() {
  local mode="$1" rc=0 failed logs=()
  # Drift previews are JSON for the report; preview and up logs are what reviewers read.
  if [ "$mode" != drift ]; then logs=(--logs "$out/logs"); fi
  failed="$(python3 "$here/fleet.py" report --mode "$mode" --expected "$out/shard.txt" \
    --markdown "$out/shard.md" --json "$out/shard.json" "${logs[@]}" "$out/results.tsv")" || rc=$?
  [ "$rc" -le 1 ] || exit "$rc"
  ci_summary "$out/shard.md"
  if [ "$rc" -ne 0 ]; then
    ci_error "Shard ${SHARD_INDEX-} failed" "stacks not done: $failed"
    exit 1
  fi
}

shard_all() {
  local mode="$1" queue=()
  prepare "$mode"
  mapfile -t queue < "$out/queue.txt"
  if [ "${#queue[@]}" -gt 0 ]; then run_all "$mode" "${queue[@]}"; fi
  finish "$mode"
}

# --- the report across shards -------------------------------------------------------------

# A fresh federated token in a file for the audit's sign-in (azure-identity's workload
# identity credential: AZURE_CLIENT_ID, AZURE_TENANT_ID (the app's home tenant; the audit
# asks for each stack's tenant) and AZURE_FEDERATED_TOKEN_FILE). Azure DevOps: this
# AzureCLI@2 step's $idToken; GitHub: requested now (id-token: write). Removed on exit.
federated_token_file() {
  local file="$1"
  (
    umask 077
    if [ -n "${idToken-}" ]; then
      printf '%s' "$idToken" > "$file"
    elif [ -n "${ACTIONS_ID_TOKEN_REQUEST_URL-}" ]; then
      curl -fsS -H "Authorization: Bearer ${ACTIONS_ID_TOKEN_REQUEST_TOKEN-}" \
        "${ACTIONS_ID_TOKEN_REQUEST_URL}&audience=api://AzureADTokenExchange" |
        python3 -c 'import json, sys; sys.stdout.write(json.load(sys.stdin)["value"])' > "$file"
    else
      return 1
    fi
  )
}

drift_and_audit() {
  local dir="$1" drift_rc=0 audit_rc=0 file stack previews=() outputs=() audited=()
  for file in "$dir"/*/previews/*.json; do
    [ -e "$file" ] && previews+=("$file")
  done
  for file in "$dir"/*/outputs/*.json; do
    [ -e "$file" ] || continue
    stack="$(basename "$file" .json)"
    outputs+=(--outputs "$stack=$file")
    audited+=("$stack")
  done
  if [ "${#previews[@]}" -gt 0 ]; then
    "$py" -m association drift "${previews[@]}" --markdown "$out/drift.md" \
      --json "$out/drift.json" > "$out/drift.txt" 2>&1 || drift_rc=$?
  else
    drift_rc=1
    echo "No preview to report on." > "$out/drift.md"
  fi
  # The audit sees what a preview cannot (credentials, owners, grants added outside
  # Pulumi), once the drift report is written, as the audit identity (Application.Read.All
  # and Directory.Read.All: the grants need the latter), never the job's ARM_CLIENT_ID.
  if [ "${#audited[@]}" -gt 0 ]; then
    local token="${RUNNER_TEMP:-${AGENT_TEMPDIRECTORY:-${TMPDIR:-/tmp}}}/fleet-federated-token"
    local auditor="${servicePrincipalId:-${FLEET_AUDIT_CLIENT_ID-}}"
    if [[ "$auditor" =~ ^\$\([A-Za-z0-9_.]+\)$ ]]; then auditor=""; fi
    unset AZURE_CLIENT_ID AZURE_FEDERATED_TOKEN_FILE
    if [ -z "$auditor" ] && [ "${GITHUB_ACTIONS-}" = true ]; then
      audit_rc=1
      echo "No audit identity: set the variable AZURE_AUDIT_CLIENT_ID (the audit app, never" \
        "the preview app). The audit did not run." > "$out/audit.md"
    elif [ -z "$auditor" ] && [ "${TF_BUILD-}" = True ]; then
      audit_rc=1
      echo "No audit identity: run the report in AzureCLI@2 on the service connection" \
        "mimecast-association-audit with addSpnToEnvironment: true. The audit did not run." \
        > "$out/audit.md"
    else
      if [ -n "$auditor" ] && federated_token_file "$token"; then
        export AZURE_FEDERATED_TOKEN_FILE="$token" AZURE_CLIENT_ID="$auditor" \
          AZURE_TENANT_ID="${tenantId:-${AZURE_TENANT_ID-}}"
      fi
      "$py" -m association audit --project-dir . --json "$out/audit.json" \
        --markdown "$out/audit.md" "${outputs[@]}" -- "${audited[@]}" \
        > "$out/audit.txt" 2>&1 || audit_rc=$?
      rm -f "$token"
    fi
  else
    audit_rc=1
    echo "No stack outputs to audit." > "$out/audit.md"
  fi
  printf '%s %s\n' "$drift_rc" "$audit_rc"
}

report() {
  local mode="$1" dir="$2" rc=0 failed expected=() status=0 codes drift_rc audit_rc results=()
  mkdir -p "$out"
  printf '%s' "${FLEET_STACKS:-[]}" | python3 "$here/fleet.py" shard --index 0 --count 1 \
    > "$out/expected.txt"
  mapfile -t expected < "$out/expected.txt"
  local file
  for file in "$dir"/*/results.tsv; do
    [ -e "$file" ] && results+=("$file")
  done
  failed="$(python3 "$here/fleet.py" report --mode "$mode" --expected "$out/expected.txt" \
    --markdown "$out/report.md" --json "$out/fleet.json" "${results[@]}")" || rc=$?
  [ "$rc" -le 1 ] || exit "$rc"
  if [ "$mode" = drift ]; then
    codes="$(drift_and_audit "$dir")"
    drift_rc="${codes%% *}"
    audit_rc="${codes##* }"
    {
      echo
      echo "## Drift report"
      echo
      cat "$out/drift.md"
      echo
      echo "## Security audit"
      echo
      cat "$out/audit.md" 2> /dev/null || echo "The audit wrote no report (exit $audit_rc)."
    } >> "$out/report.md"
  fi
  ci_summary "$out/report.md"
  if [ "$rc" -ne 0 ]; then
    case "$mode" in
      preview) ci_error "Preview failed" "stacks: $failed" ;;
      up) ci_error "Deploy failed" "stacks: $failed" ;;
      drift) ci_error "Drift check failed" "stacks that could not be checked: $failed" ;;
    esac
    status=1
  fi
  if [ "$mode" = drift ]; then
    case "$drift_rc" in
      0) ;;
      3)
        ci_error "Drift detected" "${#expected[@]} stacks checked; see the run summary"
        ci_tag drift
        [ "$status" -eq 1 ] || status=3
        ;;
      *)
        ci_error "Drift check failed" "the drift report exited $drift_rc; see the run summary"
        ci_tag drift-check-failed
        status=1
        ;;
    esac
    case "$audit_rc" in
      0) ;;
      3)
        ci_error "Audit findings" "the audit found credentials, owners or grants nobody declared; see the run summary"
        ci_tag audit-findings
        [ "$status" -eq 1 ] || status=3
        ;;
      *)
        ci_error "Audit failed" "the audit exited $audit_rc; see the run summary"
        ci_tag audit-failed
        status=1
        ;;
    esac
  fi
  exit "$status"
}

main() {
  local command="${1-}"
  case "$command" in
    plan) plan ;;
    shard)
      check_mode "${2-}"
      shard_all "$2"
      ;;
    prepare)
      check_mode "${2-}"
      prepare "$2"
      ;;
    stack)
      check_mode "${2-}"
      stack_slot "$2" "${3-}"
      ;;
    finish)
      check_mode "${2-}"
      finish "$2"
      ;;
    report)
      check_mode "${2-}"
      [ -d "${3-}" ] || die "report needs the directory that holds the shards' outputs"
      report "$2" "$3"
      ;;
    *) die "usage: scripts/fleet.sh plan | shard|prepare|finish MODE | stack MODE N | report MODE DIR" ;;
  esac
}

main "$@"
