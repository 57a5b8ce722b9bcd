# shellcheck shell=bash disable=SC2154 # here, out, py, concurrency, ...: set by scripts/fleet.sh
# Sourced by scripts/fleet.sh (its helpers and settings): `fleet.sh plan`, which stacks run
# and in how many shards, and the stale-commit check every deploy job runs. A deploy reads
# the deploy record (scripts/deploy-record.py) from the platform's history of deploy runs.

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
  local args=() base="${FLEET_BASE-}" stacks outputs line head why record=""
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
