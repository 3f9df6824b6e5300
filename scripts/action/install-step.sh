#!/usr/bin/env bash
# Step 1 of the GitHub Action: install the pinned, checksum-verified shipline into the runner's
# tool cache (a no-op when it is there already) and put it on PATH.
# Inputs arrive as environment variables only (SHIPLINE_VERSION), never as ${{ }} in the script.
set -euo pipefail

action_path="${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set: this script runs as a step of the shipline action}"

if [ -z "${SHIPLINE_TARGET:-}" ]; then
  case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
    Linux/X64) SHIPLINE_TARGET=x86_64-unknown-linux-musl ;;
    Linux/ARM64) SHIPLINE_TARGET=aarch64-unknown-linux-musl ;;
    *)
      echo "::error title=shipline::shipline runs on Linux x64 and arm64 runners, and this runner is ${RUNNER_OS:-unknown OS} ${RUNNER_ARCH:-unknown CPU}. Use runs-on: ubuntu-latest or ubuntu-24.04-arm for the deploy job."
      exit 1
      ;;
  esac
fi
export SHIPLINE_TARGET

version="${SHIPLINE_VERSION:-}"
if [ -z "$version" ]; then
  version="$(sed -n 's/^default_version=//p' "$action_path/scripts/install.sh")"
fi
version="${version#v}"
export SHIPLINE_VERSION="$version"

cache="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:?neither RUNNER_TOOL_CACHE nor RUNNER_TEMP is set}}"
dir="$cache/shipline/$version/$SHIPLINE_TARGET"
sh "$action_path/scripts/install.sh" "$dir"

echo "$dir" >>"$GITHUB_PATH"
echo "path=$dir/shipline" >>"$GITHUB_OUTPUT"
