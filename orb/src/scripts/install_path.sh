#!/usr/bin/env bash
# The orb's install command, first step: resolve install_dir ($VARS and a leading ~ expanded)
# and hand it, on PATH, to the later steps of the job through $BASH_ENV. The next step runs
# scripts/install.sh, which installs into $SHIPLINE_INSTALL_DIR.
set -euo pipefail

dir="${SHIPLINE_PARAM_INSTALL_DIR:-}"
[ -n "$dir" ] || dir="$HOME/.local/bin"
if command -v circleci >/dev/null 2>&1; then
  dir="$(circleci env subst "$dir")"
else
  dir="${dir//\$HOME/$HOME}"
fi
case "$dir" in \~ | \~/*) dir="$HOME${dir#\~}" ;; esac
case "$dir" in
  /*) ;;
  *) echo "ERROR: install_dir \"$dir\" must be an absolute path (or start with \$HOME or ~)" >&2; exit 2 ;;
esac
: "${BASH_ENV:?BASH_ENV is not set: this script runs as a step of the shipline orb on CircleCI}"
# shellcheck disable=SC2016 # $PATH expands when a later step sources $BASH_ENV
printf 'export SHIPLINE_INSTALL_DIR=%q\nexport PATH=%q:"$PATH"\n' "$dir" "$dir" >>"$BASH_ENV"
echo "shipline goes to $dir"
