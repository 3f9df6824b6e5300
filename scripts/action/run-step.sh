#!/usr/bin/env bash
# Step 2 of the GitHub Action: run one shipline command. Every input arrives as an environment
# variable set in action.yml's `env:` (never as ${{ }} in this script, so no input can inject
# shell): SHIPLINE_INPUT_* for the command, credentials and job status, SHIPLINE_OPT_<FLAG> for
# each option, exported here as the binary's own SHIPLINE_<FLAG> when not empty.
set -euo pipefail

die_usage() { echo "::error title=shipline::$*"; exit 2; }

cmd="${SHIPLINE_INPUT_COMMAND:-}"
case "$cmd" in
  lock | deploy | verify | promote | rollback | notify | notes) ;;
  '') die_usage "the input \`command\` is required: one of lock, deploy, verify, promote, rollback, notify, notes" ;;
  *) die_usage "unknown command \"$cmd\" in the input \`command\`: use one of lock, deploy, verify, promote, rollback, notify, notes" ;;
esac

# Credentials: an input wins; an empty input leaves the job's variable of the same name alone.
for name in HEROKU_API_KEY SLACK_WEBHOOK_URL SLACK_BOT_TOKEN GITHUB_TOKEN; do
  var="SHIPLINE_INPUT_$name"
  if [ -n "${!var:-}" ]; then export "$name=${!var}"; fi
  unset "$var"
done

# Options: SHIPLINE_OPT_X → SHIPLINE_X. The lock's mode and timeout have their own inputs.
for var in "${!SHIPLINE_OPT_@}"; do
  name="${var#SHIPLINE_OPT_}"
  value="${!var}"
  unset "$var"
  [ -n "$value" ] || continue
  case "$name" in
    LOCK_MODE) if [ "$cmd" = lock ]; then export SHIPLINE_MODE="$value"; fi ;;
    LOCK_TIMEOUT) if [ "$cmd" = lock ]; then export SHIPLINE_TIMEOUT="$value"; fi ;;
    TIMEOUT) if [ "$cmd" != lock ]; then export SHIPLINE_TIMEOUT="$value"; fi ;;
    *) export "SHIPLINE_$name=$value" ;;
  esac
done

# notify reports a failed job even when the step that failed was not shipline's; otherwise the
# binary derives the status from the state file (succeeded, or skipped after a skip).
if [ "$cmd" = notify ] && [ -z "${SHIPLINE_STATUS:-}" ]; then
  case "${SHIPLINE_INPUT_JOB_STATUS:-}" in
    failure | cancelled) export SHIPLINE_STATUS="$SHIPLINE_INPUT_JOB_STATUS" ;;
  esac
fi
unset SHIPLINE_INPUT_JOB_STATUS SHIPLINE_INPUT_COMMAND

bin="${SHIPLINE_BIN:-}"
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  bin="$(command -v shipline || true)"
  if [ -z "$bin" ]; then
    echo "::error title=shipline::shipline is not installed: the install step of this action did not run or failed (see its log)"
    exit 1
  fi
fi
unset SHIPLINE_BIN

# notes are Markdown unless asked otherwise. The binary itself writes the `notes` output: its
# standard output is the notes alone, and the log and workflow commands go to standard error.
if [ "$cmd" = notes ]; then
  export SHIPLINE_FORMAT="${SHIPLINE_FORMAT:-markdown}"
fi
exec "$bin" "$cmd"
