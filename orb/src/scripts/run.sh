#!/usr/bin/env bash
# Runs one shipline command for the orb. Parameters arrive as environment variables set in the
# command's `environment:` block (never interpolated into this script):
#   SHIPLINE_COMMAND             the command: lock, deploy, verify, promote, rollback, notify, notes
#   SHIPLINE_PARAM_<FLAG>        an option; `$VARS` in it are expanded (circleci env subst); empty
#                                means the flag's default; exported as the binary's SHIPLINE_<FLAG>
#   SHIPLINE_SECRET_<NAME>       the *name* of the variable holding a credential (env_var_name
#                                parameter); its value is exported as <NAME> (HEROKU_API_KEY, …)
#   SHIPLINE_HALT_ON_SKIP        true: a skip ends the job here, successfully (circleci-agent step halt)
# After the command, the outcome (done, skipped, failed) is exported to later steps as
# SHIPLINE_OUTCOME_<COMMAND> through $BASH_ENV.
set -euo pipefail

cmd="${SHIPLINE_COMMAND:?SHIPLINE_COMMAND is not set: this script runs as a step of the shipline orb}"
unset SHIPLINE_COMMAND

subst() {
  if command -v circleci >/dev/null 2>&1; then circleci env subst "$1"; else printf '%s' "$1"; fi
}

for var in "${!SHIPLINE_SECRET_@}"; do
  name="${var#SHIPLINE_SECRET_}"
  ref="${!var}"
  unset "$var"
  [ -n "$ref" ] || continue
  if ! [[ "$ref" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
    echo "ERROR: \"$ref\" is not an environment variable name; the orb's credential parameters take the NAME of the variable that holds the secret (e.g. HEROKU_API_KEY), never the secret" >&2
    exit 2
  fi
  if [ -n "${!ref:-}" ]; then
    export "$name=${!ref}"
  elif [ "$ref" != "$name" ]; then
    echo "WARNING: the variable $ref (named for $name) is empty or unset: add it to the project's environment variables or to the job's context" >&2
  fi
done

halt_on_skip="${SHIPLINE_HALT_ON_SKIP:-false}"
unset SHIPLINE_HALT_ON_SKIP

for var in "${!SHIPLINE_PARAM_@}"; do
  name="${var#SHIPLINE_PARAM_}"
  value="$(subst "${!var}")"
  unset "$var"
  [ -n "$value" ] || continue
  case "$name" in
    LOCK_MODE) export SHIPLINE_MODE="$value" ;;
    LOCK_TIMEOUT) export SHIPLINE_TIMEOUT="$value" ;;
    *) export "SHIPLINE_$name=$value" ;;
  esac
done

# notify: a job that failed before this step reports failed (the orb's on_fail marker step).
if [ "$cmd" = notify ] && [ -z "${SHIPLINE_STATUS:-}" ] && [ -e "${TMPDIR:-/tmp}/shipline-job-failed" ]; then
  export SHIPLINE_STATUS=failed
fi

# The binary runs as this script's child: CircleCI may signal only this shell when the job is
# cancelled, so SIGTERM/SIGINT are passed on, for shipline to record what it leaves in flight.
status=0
shipline "$cmd" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' TERM
trap 'kill -INT "$child" 2>/dev/null || true' INT
wait "$child" || status=$?
# A trap ends `wait` early; wait again for the binary's own exit code (130/143 once recorded).
while kill -0 "$child" 2>/dev/null; do
  status=0
  wait "$child" || status=$?
done
trap - TERM INT

# The outcome, from the state file the binary just wrote: its last step, when that step is this
# command (state format 2: `steps` is the list of every step of the job in order, and a job may
# run one command more than once, e.g. verify on staging and then on production).
state="${SHIPLINE_STATE:-.shipline/state.json}"
outcome=""
if [ -f "$state" ]; then
  if command -v jq >/dev/null 2>&1; then
    outcome="$(jq -r --arg s "$cmd" '.steps[-1] | select(.step == $s) | .outcome // empty' "$state" 2>/dev/null || true)"
  else
    last="$(tr -d ' \n\t' <"$state" | grep -o '{[^{}]*"step":"[a-z]*"[^{}]*}' | tail -1 || true)"
    case "$last" in
      *"\"step\":\"$cmd\""*) outcome="$(printf '%s' "$last" | grep -o '"outcome":"[a-z]*"' | cut -d'"' -f4 || true)" ;;
    esac
  fi
fi
if [ -n "$outcome" ] && [ -n "${BASH_ENV:-}" ]; then
  upper="$(printf '%s' "$cmd" | tr '[:lower:]' '[:upper:]')"
  echo "export SHIPLINE_OUTCOME_$upper=$outcome" >>"$BASH_ENV"
fi

if [ "$status" -eq 0 ] && [ "$outcome" = skipped ] && [ "$halt_on_skip" = true ]; then
  echo "shipline $cmd skipped; ending the job here as asked (halt_on_skip)"
  circleci-agent step halt
fi
exit "$status"
