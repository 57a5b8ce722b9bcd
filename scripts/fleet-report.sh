# shellcheck shell=bash disable=SC2154 # here, out, py, concurrency, ...: set by scripts/fleet.sh
# Sourced by scripts/fleet.sh (its helpers and settings): `fleet.sh report` (every shard's
# results as one report; for drift the drift report and the audit, for up the deploy
# record) and `fleet.sh notify`.

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
  # The Exchange side too once the audit identity holds Exchange.ManageAsApp and View-Only
  # Configuration in the tenants (docs/drift-and-audit.md, Audit); without it the audit says it was not read.
  # (an Azure DevOps macro left as `$(NAME)` is a variable nobody defined: not set)
  if [ -n "${FLEET_AUDIT_EXCHANGE_ENDPOINT-}" ] &&
    ! [[ "$FLEET_AUDIT_EXCHANGE_ENDPOINT" =~ ^\$\( ]]; then
    args+=(--exchange-endpoint "$FLEET_AUDIT_EXCHANGE_ENDPOINT")
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
