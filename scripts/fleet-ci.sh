# shellcheck shell=bash
# Sourced by scripts/fleet.sh: annotations, tags, summaries and outputs on both CI platforms.

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
