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

# api_get URL: GET from the platform's API (the job's own token), redirects followed; curl
# sends the token to the API's host only, never to a host it is redirected to.
api_get() {
  if [ "${GITHUB_ACTIONS-}" = true ]; then
    curl -fsSL -H "Authorization: Bearer ${GITHUB_TOKEN-}" -H "Accept: application/vnd.github+json" "$1"
  else
    curl -fsSL -H "Authorization: Bearer ${SYSTEM_ACCESSTOKEN-}" "$1"
  fi
}

# The platform: github or ado (the deploy record is read from its run history).
platform() {
  if [ "${GITHUB_ACTIONS-}" = true ]; then echo github; elif [ "${TF_BUILD-}" = True ]; then echo ado; fi
}

runs_url() {
  if [ "$(platform)" = github ]; then
    printf '%s/repos/%s/actions/workflows/deploy.yml/runs?branch=main&status=completed&per_page=50' \
      "${GITHUB_API_URL:-https://api.github.com}" "$GITHUB_REPOSITORY"
  else
    printf '%s%s/_apis/build/builds?definitions=%s&branchName=refs/heads/main%s' \
      "$SYSTEM_COLLECTIONURI" "$SYSTEM_TEAMPROJECTID" "$SYSTEM_DEFINITIONID" \
      "&statusFilter=completed&queryOrder=queueTimeDescending&\$top=50&api-version=7.1"
  fi
}

artifacts_url() {
  if [ "$(platform)" = github ]; then
    printf '%s/repos/%s/actions/runs/%s/artifacts?name=deploy-bases' \
      "${GITHUB_API_URL:-https://api.github.com}" "$GITHUB_REPOSITORY" "$1"
  else
    printf '%s%s/_apis/build/builds/%s/artifacts?api-version=7.1' \
      "$SYSTEM_COLLECTIONURI" "$SYSTEM_TEAMPROJECTID" "$1"
  fi
}

# read_record: the deploy record of the newest deploy run that kept one, into
# $out/bases.json; prints the last successful deploy's commit (for stacks the record does
# not name). Nothing readable: no record and no base, so every stack is deployed.
read_record() {
  local kind value url history
  [ -n "$(platform)" ] || return 0
  if ! history="$(api_get "$(runs_url)" | python3 "$here/deploy-record.py" history \
    --platform "$(platform)" --repository "${GITHUB_REPOSITORY-}" --branch main)"; then
    echo "fleet: the deploy history cannot be read: every stack" >&2
    return 0
  fi
  while read -r kind value; do
    case "$kind" in
      base) printf '%s' "$value" ;;
      run)
        url="$(api_get "$(artifacts_url "$value")" |
          python3 "$here/deploy-record.py" record-url --platform "$(platform)")" || url=""
        [ -n "$url" ] || continue
        if api_get "$url" > "$out/record.zip" &&
          python3 "$here/deploy-record.py" bases "$out/record.zip" > "$out/bases.json"; then
          echo "fleet: deploy record of run $value" >&2
          return 0
        fi
        rm -f "$out/bases.json"
        echo "fleet: the deploy record of run $value cannot be read; trying an older run" >&2
        ;;
    esac
  done <<< "$history"
  echo "fleet: no deploy record: every stack from the last successful deploy" >&2
}

# stale_reason HEAD: nothing when HEAD is the tip of FLEET_TIP (default main), else why not
# (exit 1). GitHub asks the API: actions/checkout points origin/main at the run's own commit
# when it re-runs, so the clone cannot tell (src/git-source-provider.ts, testRef/getRefSpec).
# Azure DevOps fetches every branch head into origin/* (the agent's default refspec).
stale_reason() {
  local head="$1" branch="${FLEET_TIP:-main}" tip=""
  [[ "$branch" =~ ^[A-Za-z0-9._/-]{1,200}$ ]] || { echo "FLEET_TIP is no branch name"; return 1; }
  if [ "${GITHUB_ACTIONS-}" = true ]; then
    tip="$(curl -fsS -H "Authorization: Bearer ${GITHUB_TOKEN-}" -H "Accept: application/vnd.github.sha" \
      "${GITHUB_API_URL:-https://api.github.com}/repos/${GITHUB_REPOSITORY-}/commits/$branch")" || tip=""
  else
    tip="$(git rev-parse --verify -q "refs/remotes/origin/$branch^{commit}")" || tip=""
  fi
  python3 "$here/fleet.py" stale --head "$head" --tip "$tip" --branch "$branch"
}

head_commit() {
  git rev-parse --verify -q "${FLEET_HEAD:-HEAD}^{commit}" || true
}

plan() {
  local args=(--format json) base="${FLEET_BASE-}" stacks outputs line head why record=""
  local max="${FLEET_MAX_PER_SHARD:-0}"
  mkdir -p "$out"
  head="$(head_commit)"
  if [ -n "${FLEET_TIP-}" ] && ! why="$(stale_reason "$head")"; then
    echo "fleet: $why" >&2
    ci_error "Stale run" "$why"
    exit 1
  fi
  rm -f "$out/bases.json"
  if [ "$base" = last-deploy ]; then
    base="$(read_record)"
    echo "fleet: last successful deploy: ${base:-none}" >&2
    if [ -f "$out/bases.json" ]; then
      record="$(cat "$out/bases.json")"
      args+=(--bases "$out/bases.json")
    fi
  fi
  if [ "${FLEET_SELECT:-changed}" = all ]; then
    args+=(--all)
  else
    args+=(--base "$base" --head "${FLEET_HEAD:-HEAD}" --canary "${FLEET_CANARY-}")
    if [ "${FLEET_COMPARE:-merge-base}" = two-dot ]; then args+=(--two-dot); fi
  fi
  if ! stacks="$(python3 "$here/changed-stacks.py" "${args[@]}" 2> "$out/plan.log")"; then
    cat "$out/plan.log" >&2
    ci_error "Stacks not selected" "$(grep '^error:' "$out/plan.log" | head -c 4000)"
    exit 1
  fi
  cat "$out/plan.log" >&2
  # At most FLEET_STEPS rounds of FLEET_CONCURRENCY stacks per job: Azure DevOps has that
  # many stack steps; on GitHub it bounds a deploy shard to 40 rounds of `up` (30-60 s):
  # 40 minutes, inside the hour the state backend's Azure CLI token lives at least.
  [[ "$max" =~ ^[0-9]+$ ]] || die "FLEET_MAX_PER_SHARD must be a number, not '$max'"
  if [ "$max" -eq 0 ] || [ "$max" -gt $((steps * concurrency)) ]; then
    max=$((steps * concurrency))
  fi
  outputs="$(printf '%s' "$stacks" | python3 "$here/fleet.py" plan \
    --shards "${FLEET_SHARDS:-10}" --max-per-shard "$max")"
  while IFS= read -r line; do
    ci_output "${line%%=*}" "${line#*=}"
  done <<< "$outputs"
  ci_output head "$head"
  ci_output bases "$record"
}

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

# run_pool MODE STACK...: each stack in the background, at most FLEET_CONCURRENCY at once,
# each writing its own log; results are taken in queue order (flush), so results.tsv and
# the job's lines read as a serial run's would, whichever stack ends first.
run_pool() {
  local mode="$1" running=0 flushed=0 stack
  shift
  mkdir -p "$out/done"
  for stack in "$@"; do
    if [ "$running" -ge "$concurrency" ]; then
      wait -n || true
      running=$((running - 1))
      flushed="$(flush "$flushed" "$@")"
    fi
    run_one "$mode" "$stack" &
    running=$((running + 1))
  done
  wait || true
  flush "$flushed" "$@" > /dev/null
}

# flush FROM STACK...: record the finished stacks from index FROM on, in order, up to the
# first one still running; print the index of that one.
flush() {
  local index="$1" line detail
  shift
  local stacks=("$@")
  while [ "$index" -lt "${#stacks[@]}" ] && [ -e "$out/done/${stacks[$index]}" ]; do
    line="$(cat "$out/done/${stacks[$index]}")"
    printf '%s\n' "$line" >> "$out/results.tsv"
    detail="${line#*$'\t'}"
    if [ "${detail%%$'\t'*}" = ok ]; then
      echo "fleet: ${stacks[$index]}: ok" >&2
    else
      echo "fleet: ${stacks[$index]}: FAILED (${line##*$'\t'})" >&2
    fi
    index=$((index + 1))
  done
  echo "$index"
}

# run_one MODE STACK: run one stack into its own log, then its result line into done/
# (renamed into place, so flush never reads half a line); never fails the caller.
run_one() {
  local mode="$1" stack="$2" rc=0 line
  run_stack "$mode" "$stack" > "$out/logs/$stack.log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    line="$(printf '%s\t%s\t' "$stack" ok)"
  else
    line="$(printf '%s\t%s\t%s' "$stack" failed "exit $rc; see logs/$stack.log")"
  fi
  printf '%s\n' "$line" > "$out/done/$stack.part"
  mv "$out/done/$stack.part" "$out/done/$stack"
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

# shard_folders DIR: each shard's artifact folder under DIR, its latest attempt only.
shard_folders() {
  local folders=() folder
  for folder in "$1"/*/; do
    [ -d "$folder" ] && folders+=("${folder%/}")
  done
  python3 "$here/fleet.py" latest "${folders[@]}"
}

# audit_chunk K STACK...: the audit of some stacks, as its own process with a fresh token:
# azure-identity reads the token file once per credential (and then every 10 minutes), and
# Entra ID checks the token at each tenant's sign-in, so no chunk may outlive its token.
# Prints the audit's exit status.
audit_chunk() {
  local chunk="$1" token="$2" auditor="$3" life stack rc=0 args=()
  shift 3
  for stack in "$@"; do args+=(--outputs "$stack=${audit_outputs[$stack]}"); done
  unset AZURE_CLIENT_ID AZURE_FEDERATED_TOKEN_FILE
  if [ -n "$auditor" ]; then
    if ! federated_token_file "$token" ||
      ! life="$(python3 "$here/fleet.py" token-life < "$token" 2>&1)" || [ "$life" -lt 120 ]; then
      rm -f "$token"
      echo "The audit of $* did not run: no federated token with two minutes left (${life:-none})." \
        "Azure DevOps: each report step's id token lives about 10 minutes." > "$out/audit-$chunk.md"
      echo 1
      return 0
    fi
    export AZURE_FEDERATED_TOKEN_FILE="$token" AZURE_CLIENT_ID="$auditor" \
      AZURE_TENANT_ID="${tenantId:-${AZURE_TENANT_ID-}}"
  fi
  "$py" -m association audit --project-dir . --json "$out/audit-$chunk.json" \
    --markdown "$out/audit-$chunk.md" "${args[@]}" -- "$@" >> "$out/audit.txt" 2>&1 || rc=$?
  rm -f "$token"
  echo "$rc"
}

# audit_all: every stack with outputs, in chunks of FLEET_AUDIT_CHUNK; prints the worst
# exit status (an error wins over findings, findings over clean).
audit_all() {
  local size="$audit_chunk_size" chunk=0 rc worst=0 parts=() start
  local token="${RUNNER_TEMP:-${AGENT_TEMPDIRECTORY:-${TMPDIR:-/tmp}}}/fleet-federated-token"
  : > "$out/audit.txt"
  for ((start = 0; start < ${#audited[@]}; start += size)); do
    chunk=$((chunk + 1))
    rc="$(audit_chunk "$chunk" "$token" "$auditor" "${audited[@]:start:size}")"
    case "$rc" in
      0) ;;
      3) [ "$worst" -ne 0 ] || worst=3 ;;
      *) worst=1 ;;
    esac
    [ ! -f "$out/audit-$chunk.json" ] || parts+=("$out/audit-$chunk.json")
  done
  for ((start = 1; start <= chunk; start++)); do
    cat "$out/audit-$start.md" 2> /dev/null || echo "The audit's part $start wrote no report."
  done > "$out/audit.md"
  if [ "${#parts[@]}" -gt 0 ]; then
    python3 "$here/fleet.py" audit-merge --json "$out/audit.json" "${parts[@]}" || true
  fi
  echo "$worst"
}

drift_and_audit() {
  local dir="$1" drift_rc=0 audit_rc=0 file stack folder previews=() audited=() folders=()
  local -A audit_outputs=()
  mapfile -t folders < <(shard_folders "$dir")
  for folder in "${folders[@]}"; do
    for file in "$folder"/previews/*.json; do
      [ -e "$file" ] && previews+=("$file")
    done
    for file in "$folder"/outputs/*.json; do
      [ -e "$file" ] || continue
      stack="$(basename "$file" .json)"
      audit_outputs[$stack]="$file"
      audited+=("$stack")
    done
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
    mapfile -t audited < <(printf '%s\n' "${audited[@]}" | LC_ALL=C sort)
    local auditor="${servicePrincipalId:-${FLEET_AUDIT_CLIENT_ID-}}"
    if [[ "$auditor" =~ ^\$\([A-Za-z0-9_.]+\)$ ]]; then auditor=""; fi
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
      audit_rc="$(audit_all)"
    fi
  else
    audit_rc=1
    echo "No stack outputs to audit." > "$out/audit.md"
  fi
  printf '%s %s\n' "$drift_rc" "$audit_rc"
}

# deploy_record: the record after this deploy (scripts/deploy-record.py), for the next
# run's plan: the stacks deployed now at this run's commit, the others as they were.
deploy_record() {
  if [ -z "${FLEET_HEAD_SHA-}" ]; then
    echo "fleet: no FLEET_HEAD_SHA (the plan's output head): no deploy record written" >&2
    return 0
  fi
  python3 "$here/deploy-record.py" record --previous "${FLEET_BASES-}" \
    --head "$FLEET_HEAD_SHA" --report "$out/fleet.json" > "$out/deploy-bases.json" || {
    rm -f "$out/deploy-bases.json"
    echo "fleet: the deploy record could not be written: the next run deploys from the last successful deploy" >&2
  }
}

report() {
  local mode="$1" dir="$2" rc=0 failed expected=() status=0 codes drift_rc audit_rc results=()
  local folder folders=()
  mkdir -p "$out"
  printf '%s' "${FLEET_STACKS:-[]}" | python3 "$here/fleet.py" shard --index 0 --count 1 \
    > "$out/expected.txt"
  mapfile -t expected < "$out/expected.txt"
  mapfile -t folders < <(shard_folders "$dir")
  for folder in "${folders[@]}"; do
    [ -e "$folder/results.tsv" ] && results+=("$folder/results.tsv")
  done
  failed="$(python3 "$here/fleet.py" report --mode "$mode" --expected "$out/expected.txt" \
    --markdown "$out/report.md" --json "$out/fleet.json" "${results[@]}")" || rc=$?
  [ "$rc" -le 1 ] || exit "$rc"
  if [ "$mode" = up ]; then deploy_record; fi
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

# --- the nightly notice ------------------------------------------------------------------

# notify: a failed scheduled night comments on the open issue of that title, so one issue
# collects the failures until someone closes it; opens it when there is none (GitHub, gh).
notify() {
  local title="Nightly drift check failed" number body
  body="$(date -u +%F): drift, audit findings or a failed check: see the run summary at ${RUN_URL-}"
  number="$(gh issue list --state open --search "\"$title\" in:title" --limit 50 \
    --json number,title --jq ".[] | select(.title == \"$title\") | .number" | head -n 1)"
  if [[ "$number" =~ ^[1-9][0-9]*$ ]]; then
    gh issue comment "$number" --body "$body"
  else
    gh issue create --title "$title" --body "$body"
  fi
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
