#!/usr/bin/env bash
# Run Pulumi over the fleet of tenant stacks in shards. One implementation for GitHub
# Actions and Azure DevOps: the workflow and pipeline files only install, sign in and
# call this script.
#
#   scripts/fleet.sh plan                select stacks (scripts/changed-stacks.py) and shard them
#   scripts/fleet.sh shard MODE          a whole shard in one step (GitHub Actions)
#   scripts/fleet.sh prepare MODE        Azure DevOps: gate the shard's stacks, queue the rest
#   scripts/fleet.sh stack MODE N        Azure DevOps: the N-th group of FLEET_CONCURRENCY
#                                        queued stacks, each group in its own AzureCLI@2 step,
#                                        so each gets a fresh id token
#   scripts/fleet.sh finish MODE         the shard's summary; exit 1 if a stack failed
#   scripts/fleet.sh report MODE DIR     every shard's results (DIR/*/..., the latest attempt
#                                        of each) as one report; for drift also the drift
#                                        report and the audit; for up the deploy record
#   scripts/fleet.sh notify              GitHub: a failed night comments on the open issue
#                                        (or opens one)
#
# MODE: preview (pull requests), up (deploys: `pulumi up --refresh`), drift (nightly:
# `pulumi preview --refresh --json` and `pulumi stack output --json` per stack).
#
# Per stack: preflight errors block only that stack (preview, up); a failing stack never
# stops the others; the shard and the report fail at the end, naming the stacks. Up to
# FLEET_CONCURRENCY stacks run at once, each into its own log file; results and the
# job's lines come in queue order, as a serial run gives them. A job that runs `up`
# first checks that its commit is still the tip of main (a re-run keeps its old commit).
# Pulumi's and the program's output go to files (logs/, the summaries, the artifact),
# never to the job's log: tenants' data (a display name set in the portal) must not
# reach the runner's command stream (`::...::`, `##vso[...]`).
#
# Environment:
#   FLEET_OUT           this job's output directory (default fleet-out)
#   FLEET_STACKS        the planned stacks, a JSON list (shard, prepare, report)
#   SHARD_INDEX, SHARD_COUNT  which shard this job runs (shard, prepare)
#   ASSOCIATION_PYTHON  the program's interpreter (default venv/bin/python)
#   FLEET_CONCURRENCY   stacks at once in a job (default 4; 1 = one after another)
#   FLEET_STEPS         rounds of FLEET_CONCURRENCY stacks one job may run (default 40, the
#                       Azure DevOps template's stack steps): the most stacks per job
#   FLEET_TIP           the branch a deploy must be the tip of (plan and up; default main)
#   plan: FLEET_SELECT (changed | all), FLEET_BASE (a commit, or "last-deploy": the deploy
#         record, scripts/deploy-record.py), FLEET_HEAD, FLEET_COMPARE (merge-base |
#         two-dot), FLEET_SHARDS (default 10), FLEET_MAX_PER_SHARD (0: FLEET_STEPS rounds),
#         FLEET_CANARY (stacks a change to the CI scripts previews; default the first two)
#   report up: FLEET_BASES, FLEET_HEAD_SHA (the plan's outputs bases and head)
#   report drift: FLEET_AUDIT_CLIENT_ID (GitHub: the audit app's client ID),
#         FLEET_AUDIT_CHUNK (stacks per audit process, each with a fresh token; default 50)
#         FLEET_AUDIT_EXCHANGE_ENDPOINT (e.g. https://outlook.office365.com: the audit also
#         reads Exchange Online; unset: Graph only, and the audit says so)
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
stack_name='^[A-Za-z0-9_.-]{1,100}$'
concurrency="${FLEET_CONCURRENCY:-4}"
[[ "$concurrency" =~ ^([1-9]|1[0-6])$ ]] ||
  { echo "fleet: FLEET_CONCURRENCY must be 1 to 16, not '$concurrency'" >&2; exit 2; }
audit_chunk_size="${FLEET_AUDIT_CHUNK:-50}"
[[ "$audit_chunk_size" =~ ^[1-9][0-9]{0,3}$ ]] ||
  { echo "fleet: FLEET_AUDIT_CHUNK must be a positive number, not '$audit_chunk_size'" >&2; exit 2; }
steps="${FLEET_STEPS:-40}"
[[ "$steps" =~ ^[1-9][0-9]{0,2}$ ]] ||
  { echo "fleet: FLEET_STEPS must be a positive number, not '$steps'" >&2; exit 2; }

# --- refusals and the mode ---------------------------------------------------------------

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

# Beside this file: the CI platforms' annotations and outputs (fleet-ci.sh), stacks in
# parallel (fleet-pool.sh), the plan (fleet-plan.sh) and the report across shards
# (fleet-report.sh).
# shellcheck source=scripts/fleet-ci.sh
source "$here/fleet-ci.sh"
# shellcheck source=scripts/fleet-pool.sh
source "$here/fleet-pool.sh"
# shellcheck source=scripts/fleet-plan.sh
source "$here/fleet-plan.sh"
# shellcheck source=scripts/fleet-report.sh
source "$here/fleet-report.sh"

# --- one shard -------------------------------------------------------------------------------

record() {
  printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$out/results.tsv"
}

prepare() {
  local mode="$1" rc=0 why stack
  mkdir -p "$out/logs" "$out/previews" "$out/outputs"
  rm -rf "$out/done"
  : > "$out/results.tsv"
  printf '%s' "${FLEET_STACKS:-[]}" |
    python3 "$here/fleet.py" shard --index "${SHARD_INDEX:?}" --count "${SHARD_COUNT:?}" \
      > "$out/shard.txt"
  local stacks=()
  mapfile -t stacks < "$out/shard.txt"
  if [ "$mode" = up ] && [ "${#stacks[@]}" -gt 0 ] && ! why="$(stale_reason "$(head_commit)")"; then
    # A re-run of an old run's shard: nothing is deployed, and every stack says why.
    for stack in "${stacks[@]}"; do record "$stack" failed "refused: $why"; done
    : > "$out/queue.txt"
    ci_error "Stale run" "$why"
  elif [ "$mode" = drift ] || [ "${#stacks[@]}" -eq 0 ]; then
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
  echo "fleet: shard ${SHARD_INDEX} of ${SHARD_COUNT}: ${#stacks[@]} stacks, $queued to run," \
    "$concurrency at a time" >&2
  # Azure DevOps: how many stack steps (groups of FLEET_CONCURRENCY) this shard needs.
  ci_output FLEET_SLOTS "$(((queued + concurrency - 1) / concurrency))" job
}

# sign_in: the identity for every stack this process runs, then the backend login (once).
# Azure DevOps: this AzureCLI@2 step's id token (fresh: the step signed in just now).
sign_in() {
  export ARM_USE_OIDC=true ARM_USE_CLI=false
  # Only the token itself goes to the provider; never the service connection id with
  # System.AccessToken (the Terraform provider's route, which pulumi-azuread ignores), nor
  # the job's GitHub token (the stale-commit check's only).
  unset ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID ARM_OIDC_AZURE_SERVICE_CONNECTION_ID \
    SYSTEM_ACCESSTOKEN ARM_OIDC_TOKEN_FILE_PATH GITHUB_TOKEN
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

# guard_application STACK: refuse the deploy of a stack whose `up --refresh` would give Mimecast
# another client ID: its application was deleted outside Pulumi (the refresh drops it, protect
# or not, and a new one is created, or the refresh fails reading it), another one is adopted in
# its place, or a change replaces it (scripts/fleet_guard.py says which, with the fix). Only a
# stack that has deployed an application pays the extra preview; FLEET_ALLOW_NEW_APPLICATION
# names the stacks that may get a new one.
guard_application() {
  local stack="$1" guard="$out/guard" rc=0
  mkdir -p "$guard"
  pulumi stack output --json --stack "$STACK_REF" > "$guard/$stack.outputs.json" \
    2> /dev/null || return 0 # no stack yet: its first deploy creates the application
  grep -q '"applicationObjectId"' "$guard/$stack.outputs.json" || return 0
  pulumi preview --stack "$STACK_REF" --refresh --json --non-interactive \
    > "$guard/$stack.preview.json" || rc=$?
  python3 "$here/fleet.py" new-application --stack "$stack" \
    --outputs "$guard/$stack.outputs.json" --preview "$guard/$stack.preview.json" \
    --preview-status "$rc" --allow "${FLEET_ALLOW_NEW_APPLICATION-}"
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
      guard_application "$stack" || return 1
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

# run_all MODE STACK...: sign in once, then the stacks, FLEET_CONCURRENCY at a time; a
# failed sign-in fails them all.
run_all() {
  local mode="$1" stack
  shift
  for stack in "$@"; do
    [[ "$stack" =~ $stack_name ]] || die "not a stack name: '$stack'"
  done
  if ! sign_in >> "$out/logs/sign-in.log" 2>&1; then
    for stack in "$@"; do
      record "$stack" failed "sign-in failed; see logs/sign-in.log"
      echo "fleet: $stack: FAILED (sign-in)" >&2
    done
    return 0
  fi
  run_pool "$mode" "$@"
}

# stack_slot MODE N: the N-th group of FLEET_CONCURRENCY queued stacks (one AzureCLI@2 step).
stack_slot() {
  local mode="$1" slot="$2" group=()
  [[ "$slot" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number, not '$slot'"
  mapfile -t group < <(sed -n "$(((slot - 1) * concurrency + 1)),$((slot * concurrency))p" \
    "$out/queue.txt")
  if [ "${#group[@]}" -gt 0 ]; then run_all "$mode" "${group[@]}"; fi
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
main() {
  local command="${1-}"
  case "$command" in
    plan) plan ;;
    notify) notify ;;
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
    *) die "usage: scripts/fleet.sh plan | notify | shard|prepare|finish MODE | stack MODE N | report MODE DIR" ;;
  esac
}

main "$@"
