#!/usr/bin/env bash
# Install the Pulumi CLI at the version requirements.txt pins for the SDK, verified
# against Pulumi's published SHA-256 checksums before it is ever run. Both platforms'
# jobs call it once per job.
#
#   scripts/install-pulumi.sh        prints the bin directory; on GitHub Actions and Azure
#                                    DevOps also puts it first on PATH for later steps
#
# The tarball comes from get.pulumi.com, the checksums file from the GitHub release of
# the same version: two hosts, so one tampered host cannot serve a matching pair.
#
# The pin in the repository: scripts/pulumi-cli.sha256 holds lines
#   <sha256>  pulumi-v<version>-linux-<arch>.tar.gz
# When it has a line for this version and arch, the download must have exactly that
# SHA-256 and the release's checksums file must say the same: then neither host, nor
# both together, can change what runs. Without such a line the release's checksums file
# alone decides, and the script prints the line to commit (docs/pipelines.md, setup
# step 4). A malformed line, or two lines for the same file, is an error.
#
# Overrides (tests use file:// URLs, no network): PULUMI_DOWNLOAD_URL,
# PULUMI_CHECKSUMS_URL, PULUMI_INSTALL_DIR, PULUMI_PIN_FILE.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

fail() {
  echo "install-pulumi: $*" >&2
  exit 1
}

version="$(sed -n 's/^pulumi==//p' "$here/../requirements.txt")"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
  fail "requirements.txt pins no pulumi==X.Y.Z (found '$version')"

case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) fail "no Pulumi build for $(uname -m)" ;;
esac
tarball="pulumi-v${version}-linux-${arch}.tar.gz"
sums="pulumi-${version}-checksums.txt"
tarball_url="${PULUMI_DOWNLOAD_URL:-https://get.pulumi.com/releases/sdk}/$tarball"
sums_url="${PULUMI_CHECKSUMS_URL:-https://github.com/pulumi/pulumi/releases/download/v$version}/$sums"
dest="${PULUMI_INSTALL_DIR:-${RUNNER_TOOL_CACHE:-${AGENT_TOOLSDIRECTORY:-$HOME/.cache}}/pulumi-$version}"
pin_file="${PULUMI_PIN_FILE:-$here/pulumi-cli.sha256}"

# The committed pin for this tarball ("" when there is none), read before any download.
pinned=""
if [ -f "$pin_file" ]; then
  pins="$(awk -v name="$tarball" '
    { sub(/\r$/, "") }
    /^[[:space:]]*(#|$)/ { next }
    NF != 2 || $1 !~ /^[0-9a-f]+$/ || length($1) != 64 { print "malformed line " FNR ": " $0; exit 3 }
    $2 == name { print $1 }
  ' "$pin_file")" || fail "$pin_file: ${pins##*$'\n'} (expected '<sha256>  <file name>')"
  [[ "$pins" != *$'\n'* ]] || fail "$pin_file pins $tarball more than once"
  pinned="$pins"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

curl -fsSL --retry 3 -o "$work/$tarball" "$tarball_url" || fail "cannot download $tarball_url"
curl -fsSL --retry 3 -o "$work/$sums" "$sums_url" || fail "cannot download $sums_url"

# The checksums file lists every archive of the release as "<sha256>  <file name>".
expected="$(awk -v name="$tarball" '$2 == name { print $1 }' "$work/$sums")"
[[ "$expected" =~ ^[0-9a-f]{64}$ ]] || fail "$sums has no single SHA-256 for $tarball"
if [ -n "$pinned" ] && [ "$pinned" != "$expected" ]; then
  fail "$sums says $expected for $tarball, but $pin_file pins $pinned: not installed"
fi
(cd "$work" && printf '%s  %s\n' "$expected" "$tarball" | sha256sum --check --strict --quiet) ||
  fail "SHA-256 of $tarball does not match ${pinned:+the pin in $pin_file and }$sums: not installed"

mkdir -p "$work/unpacked"
tar -xzf "$work/$tarball" -C "$work/unpacked"
[ -x "$work/unpacked/pulumi/pulumi" ] || fail "$tarball has no pulumi/pulumi"
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$work/unpacked/pulumi" "$dest"

reported="$("$dest/pulumi" version)"
[ "$reported" = "v$version" ] || fail "installed pulumi reports '$reported', expected v$version"

if [ -n "${GITHUB_PATH-}" ]; then
  echo "$dest" >> "$GITHUB_PATH"
elif [ "${TF_BUILD-}" = True ]; then
  echo "##vso[task.prependpath]$dest"
fi
echo "install-pulumi: pulumi $reported in $dest (sha256 $expected)" >&2
if [ -z "$pinned" ]; then
  echo "install-pulumi: $tarball is not pinned in the repository; after checking this SHA-256" \
    "against the release, add this line to scripts/pulumi-cli.sha256 and commit it:" >&2
  printf '%s  %s\n' "$expected" "$tarball" >&2
fi
echo "$dest"
