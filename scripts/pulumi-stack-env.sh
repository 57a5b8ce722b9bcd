# shellcheck shell=bash
# Prepare a CI shell to run Pulumi against one stack (one Microsoft 365 tenant).
#
#   source scripts/pulumi-stack-env.sh STACK     log in (once), then name the stack and its tenant
#   source scripts/pulumi-stack-env.sh --login   log in only (a job running many stacks)
#
# Sourced (not run) so that what it exports reaches the pulumi commands that follow.
# It is shared by the GitHub Actions workflows and the Azure DevOps pipelines so both
# log in, name stacks and pick tenants the same way:
#
# 1. Azure DevOps leaves the macro text in an env: mapping whose variable is not defined:
#    `PULUMI_ACCESS_TOKEN: $(PULUMI_PREVIEW_ACCESS_TOKEN)` gives the literal string
#    "$(PULUMI_PREVIEW_ACCESS_TOKEN)". A value that is exactly such a placeholder,
#    "$(NAME)" with any variable name, is dropped for the variables below, so Pulumi sees
#    "unset" (and this script says what is missing), never a bogus token or passphrase.
# 2. Log in to the state backend named by PULUMI_BACKEND_URL:
#      azblob://CONTAINER[?storage_account=ACCOUNT]  Azure Blob; the account comes from the
#        URL or AZURE_STORAGE_ACCOUNT; auth is the Azure CLI login the pipeline made with
#        workload identity federation (no storage key, no SAS);
#      empty                                         Pulumi Cloud, with PULUMI_ACCESS_TOKEN;
#      https://...                                   a self-hosted Pulumi Cloud, same token.
#    Once per shell: PULUMI_STACK_ENV_LOGGED_IN remembers the backend, so a job that runs
#    30 stacks logs in once (each `pulumi` start costs time).
# 3. Export STACK_REF: the stack name, prefixed "PULUMI_ORG/" when PULUMI_ORG is set
#    (Pulumi Cloud only: otherwise a personal token would look in the user's own account).
#    The azblob backend takes no organization (the diy backend accepts only the literal
#    "organization": pulumi/pulumi pkg/backend/diy/store.go), so PULUMI_ORG with azblob://
#    is refused with the fix rather than breaking every stack.
# 4. Export ARM_TENANT_ID from the stack's own azuread:tenantId, so the provider can only
#    ever authenticate against the tenant the stack file names; fail if it has none or the
#    stack does not exist in the backend (every later command passes --stack, so the
#    stack is not selected: one `pulumi` start less per stack).
#
# Expects ARM_CLIENT_ID and ARM_USE_OIDC=true to be set already by the pipeline.

_pse_fail() {
  echo "pulumi-stack-env: $*" >&2
  return 1
}

_pse_main() {
  local stack="${1:-}"
  [ -n "$stack" ] || { _pse_fail "usage: source scripts/pulumi-stack-env.sh STACK|--login"; return 1; }
  if [ "$stack" != --login ]; then
    [ -f "Pulumi.${stack}.yaml" ] || { _pse_fail "no Pulumi.${stack}.yaml in $(pwd)"; return 1; }
  fi

  local name placeholder='^\$\([A-Za-z0-9_.]+\)$'
  for name in PULUMI_ACCESS_TOKEN PULUMI_CONFIG_PASSPHRASE PULUMI_BACKEND_URL \
    AZURE_STORAGE_ACCOUNT PULUMI_ORG ARM_CLIENT_ID; do
    if [[ "${!name-}" =~ $placeholder ]]; then
      echo "pulumi-stack-env: $name is the unexpanded Azure DevOps macro ${!name}: treated as unset" >&2
      unset "$name"
    fi
  done

  [ -n "${ARM_CLIENT_ID-}" ] || { _pse_fail "ARM_CLIENT_ID is empty: set the pipeline identity's client ID"; return 1; }
  [ "${ARM_USE_OIDC-}" = "true" ] || { _pse_fail "ARM_USE_OIDC must be true: pipelines authenticate with OIDC only"; return 1; }

  local backend="${PULUMI_BACKEND_URL-}"
  case "$backend" in
    azblob://*)
      if [ -z "${AZURE_STORAGE_ACCOUNT-}" ] && [[ "$backend" != *storage_account=* ]]; then
        _pse_fail "PULUMI_BACKEND_URL is azblob:// but neither ?storage_account= nor AZURE_STORAGE_ACCOUNT is set"
        return 1
      fi
      if [ -n "${PULUMI_ORG-}" ]; then
        _pse_fail "PULUMI_ORG is set, but the azblob:// backend takes no organization: unset the variable PULUMI_ORG (it is for Pulumi Cloud only)"
        return 1
      fi
      ;;
    "" | https://*)
      backend="${backend:-https://api.pulumi.com}"
      [ -n "${PULUMI_ACCESS_TOKEN-}" ] || { _pse_fail "PULUMI_ACCESS_TOKEN is empty: Pulumi Cloud needs it (or set PULUMI_BACKEND_URL to azblob://...)"; return 1; }
      ;;
    *)
      _pse_fail "unsupported PULUMI_BACKEND_URL '$backend': use azblob://..., https://... or leave it empty"
      return 1
      ;;
  esac
  if [ "${PULUMI_STACK_ENV_LOGGED_IN-}" != "$backend" ]; then
    pulumi login --non-interactive "$backend" >&2 || { _pse_fail "pulumi login $backend failed"; return 1; }
    export PULUMI_STACK_ENV_LOGGED_IN="$backend"
  fi
  [ "$stack" != --login ] || return 0

  STACK_REF="$stack"
  if [ -n "${PULUMI_ORG-}" ]; then
    STACK_REF="${PULUMI_ORG}/${stack}"
  fi
  export STACK_REF

  local tenant
  tenant="$(pulumi config get --stack "$STACK_REF" azuread:tenantId)" || tenant=""
  [ -n "$tenant" ] || {
    _pse_fail "stack $STACK_REF has no azuread:tenantId in Pulumi.${stack}.yaml, or does not exist in $backend: create it once with 'pulumi stack init $STACK_REF' (see README)"
    return 1
  }
  export ARM_TENANT_ID="$tenant"
  echo "pulumi-stack-env: stack $STACK_REF, tenant $ARM_TENANT_ID, client $ARM_CLIENT_ID" >&2
}

_pse_main "$@"
