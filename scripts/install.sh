#!/bin/sh
# Installs a pinned, checksum-verified shipline release binary.
#
#   curl -fsSL https://raw.githubusercontent.com/shipline/shipline/v0.1.0/scripts/install.sh | sh -s -- DIR
#   scripts/install.sh [DIR]
#
# DIR (or SHIPLINE_INSTALL_DIR; default $HOME/.local/bin) receives the `shipline` binary. Nothing
# else is touched: no PATH or shell rc edits.
#
# Environment:
#   SHIPLINE_VERSION        version to install, e.g. 0.1.0 [default: the one this script was cut for]
#   SHIPLINE_INSTALL_DIR    directory to install into when no DIR argument is given
#   SHIPLINE_TARGET         asset target triple [default: from uname: x86_64 or aarch64 Linux, musl]
#   SHIPLINE_DOWNLOAD_BASE  where the archives are [default: the GitHub release of the version];
#                           https://, http:// (loopback mirrors, tests) or file:// URLs
#   SHIPLINE_CHECKSUMS      a local SHA256SUMS file to verify against instead of the checksums
#                           committed in the repository (a verified mirror, tests)
#
# The archive's SHA-256 must match a checksum committed in the shipline repository for that
# version (checksums/vVERSION.sha256 next to this script when run from a checkout, as the GitHub
# Action does, else the table at the end of this script) or the SHIPLINE_CHECKSUMS file. A
# mismatch, or no checksum at all, is a failure: nothing is installed.
#
# When DIR/shipline already is that version, nothing is downloaded.
set -eu

default_version=0.1.0
repo_url=https://github.com/shipline/shipline
# The checksums committed for released versions, in sha256sum format (HASH  ASSET), one line per
# asset. Generated from checksums/*.sha256 by `scripts/release --record`; .ci/run checks they agree.
checksum_table='
# BEGIN CHECKSUMS
# END CHECKSUMS
'

me=shipline-install
say() { printf '%s: %s\n' "$me" "$*" >&2; }
die() { printf '%s: error: %s\n' "$me" "$*" >&2; exit 1; }

version="${SHIPLINE_VERSION:-$default_version}"
version="${version#v}"
case "$version" in
  '' | *[!0-9A-Za-z.+-]*) die "SHIPLINE_VERSION=\"$version\" is not a version such as 0.1.0; set it to a released version" ;;
esac

if [ "$#" -gt 1 ]; then die "too many arguments; usage: install.sh [DIR]"; fi
case "${1:-}" in -h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
dir="${1:-${SHIPLINE_INSTALL_DIR:-}}"
if [ -z "$dir" ]; then
  [ -n "${HOME:-}" ] || die "no install directory: pass one as the first argument or set SHIPLINE_INSTALL_DIR"
  dir="$HOME/.local/bin"
fi

# Which asset: Linux only, x86_64 or aarch64, always the static musl build.
target="${SHIPLINE_TARGET:-}"
if [ -z "$target" ]; then
  os="$(uname -s)"
  arch="$(uname -m)"
  [ "$os" = Linux ] || die "shipline release binaries exist for Linux only, and this is $os; build from source with cargo (cargo install --git $repo_url) or run the job on a Linux runner"
  case "$arch" in
    x86_64 | amd64) target=x86_64-unknown-linux-musl ;;
    aarch64 | arm64) target=aarch64-unknown-linux-musl ;;
    *) die "no shipline release binary for the CPU $arch (there are x86_64 and aarch64 Linux builds); build from source with cargo or use an x86_64/arm64 runner" ;;
  esac
fi

# Already there?
if [ -x "$dir/shipline" ]; then
  have="$("$dir/shipline" --version 2>/dev/null || true)"
  if [ "$have" = "shipline $version" ]; then
    say "shipline $version is already installed in $dir"
    exit 0
  fi
fi

asset="shipline-$version-$target.tar.gz"
base="${SHIPLINE_DOWNLOAD_BASE:-$repo_url/releases/download/v$version}"
base="${base%/}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/shipline-install.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# The expected checksum, never from the place the archive comes from.
script_dir=""
case "$0" in */*) if [ -d "$(dirname "$0")" ]; then script_dir="$(cd "$(dirname "$0")" && pwd)"; fi ;; esac
lookup() { # lookup FILE: prints the checksum of $asset listed in FILE (sha256sum format)
  awk -v name="$asset" '{ f = $2; sub(/^\*/, "", f); if (f == name) { print $1; exit } }' "$1"
}
expected=""
if [ -n "${SHIPLINE_CHECKSUMS:-}" ]; then
  [ -r "$SHIPLINE_CHECKSUMS" ] || die "SHIPLINE_CHECKSUMS=$SHIPLINE_CHECKSUMS is not a readable file; point it at the release's SHA256SUMS"
  expected="$(lookup "$SHIPLINE_CHECKSUMS")"
  source_of_sums="$SHIPLINE_CHECKSUMS"
elif [ -n "$script_dir" ] && [ -r "$script_dir/../checksums/v$version.sha256" ]; then
  source_of_sums="$script_dir/../checksums/v$version.sha256"
  expected="$(lookup "$source_of_sums")"
else
  source_of_sums="the checksums committed in this installer"
  printf '%s\n' "$checksum_table" >"$tmp/committed.sha256"
  expected="$(lookup "$tmp/committed.sha256")"
fi
case "$expected" in
  '') die "no checksum for $asset in $source_of_sums, so it cannot be verified and will not be installed. Pin a released version (SHIPLINE_VERSION) whose checksums are committed in $repo_url/tree/main/checksums, or set SHIPLINE_CHECKSUMS to a SHA256SUMS file you trust" ;;
  *[!0-9a-f]* ) die "the checksum for $asset in $source_of_sums is malformed (\"$expected\"); expected 64 lowercase hex digits" ;;
esac
[ "${#expected}" -eq 64 ] || die "the checksum for $asset in $source_of_sums is malformed (\"$expected\"); expected 64 lowercase hex digits"

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | awk '{ print $1 }'
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | awk '{ print $1 }'
  elif command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r "$1" | awk '{ print $1 }'
  else die "no SHA-256 tool (sha256sum, shasum or openssl) to verify the download; install coreutils"
  fi
}


url="$base/$asset"
case "$url" in
  https://*) proto='=https' ;;
  file://* | http://*) proto='=file,http,https'; say "downloading from $base (SHIPLINE_DOWNLOAD_BASE); the checksum still decides" ;;
  *) die "SHIPLINE_DOWNLOAD_BASE=$base must be an https://, http:// or file:// URL" ;;
esac
say "downloading $url"
if command -v curl >/dev/null 2>&1; then
  curl --proto "$proto" --tlsv1.2 -fsSL --retry 3 --connect-timeout 20 -o "$tmp/$asset" "$url" \
    || die "could not download $url (curl failed, above); check SHIPLINE_VERSION=$version is released and the network or SHIPLINE_DOWNLOAD_BASE"
elif command -v wget >/dev/null 2>&1; then
  case "$url" in file://*) die "wget cannot fetch file:// URLs; install curl" ;; esac
  wget -q -O "$tmp/$asset" "$url" \
    || die "could not download $url (wget failed); check SHIPLINE_VERSION=$version is released and the network or SHIPLINE_DOWNLOAD_BASE"
else
  die "neither curl nor wget is installed; install curl (apt-get install curl, apk add curl)"
fi

actual="$(sha256 "$tmp/$asset")"
if [ "$actual" != "$expected" ]; then
  die "checksum mismatch for $asset: expected $expected (from $source_of_sums), got $actual. The download is corrupt or has been tampered with; nothing was installed. Retry, and report it if it persists"
fi
say "verified $asset (sha256 $actual)"

(cd "$tmp" && tar -xzf "$asset") || die "could not unpack $asset (tar failed, above)"
bin="$tmp/shipline-$version-$target/shipline"
[ -f "$bin" ] || die "$asset does not contain shipline-$version-$target/shipline; it is not a shipline release archive"
mkdir -p "$dir" || die "could not create the install directory $dir; pick a writable one (first argument or SHIPLINE_INSTALL_DIR)"
staged="$dir/.shipline.tmp.$$"
if ! { cp "$bin" "$staged" && chmod 755 "$staged" && mv -f "$staged" "$dir/shipline"; }; then
  rm -f "$staged"
  die "could not write $dir/shipline; pick a writable directory (first argument or SHIPLINE_INSTALL_DIR)"
fi
say "installed shipline $version ($target) in $dir"

