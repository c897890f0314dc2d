#!/usr/bin/env bash
# LocalStack's runtime without Docker, for the services it can run that way: S3, SQS, SNS,
# EventBridge, Step Functions, CloudWatch (with real alarm evaluation), IAM, STS, Logs.
# No Lambda, no API Gateway v2, no DynamoDB there: use moto (the tests) or Docker for those.
#
#   localstack/start-without-docker.sh            # foreground; Ctrl-C or SIGTERM stops it (<= 8 s)
#   localstack/start-without-docker.sh --python   # print the Python 3.13 it would use, or why none
#   MLOPS_LOCALSTACK_URL=http://127.0.0.1:4566 pytest tests/localstack
#
# Needs Python 3.13. It looks for a working one (the candidate must run and be 3.13, so a pyenv
# shim that is not active does not count): $PYTHON313, python3.13 on PATH, pyenv's versions,
# uv's managed Pythons, /usr/local/bin and /usr/bin, python3. Exits 3 when there is none.
# Environment: PYTHON313, LOCALSTACK_STATE_DIR (its venv; default localstack/.state),
# LOCALSTACK_FILESYSTEM_ROOT (scratch files; default $LOCALSTACK_STATE_DIR/root),
# GATEWAY_LISTEN (default 127.0.0.1:4566).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="${LOCALSTACK_STATE_DIR:-$here/.state}"
venv="$state/venv"
requirements=('localstack-core[runtime]==2026.3.0' 'cbor2<6' 'pyopenssl==26.1.0' 'service_identity')

is_python313() {
  [[ -n "$1" && -x "$1" ]] && "$1" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null
}

find_python313() {
  if [[ -n "${PYTHON313:-}" ]]; then
    if is_python313 "$PYTHON313"; then echo "$PYTHON313"; return 0; fi
    echo "PYTHON313=$PYTHON313 does not run as Python 3.13" >&2
    return 3
  fi
  local pyenv_root uv_python candidate
  if command -v pyenv >/dev/null; then pyenv_root="$(pyenv root)"; else pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"; fi
  uv_python="$(command -v uv >/dev/null && uv python find 3.13 2>/dev/null || true)"
  local candidates=(
    "$(command -v python3.13 || true)"
    "$pyenv_root"/versions/3.13*/bin/python3.13
    "$uv_python"
    "${XDG_DATA_HOME:-$HOME/.local/share}"/uv/python/cpython-3.13*/bin/python3.13
    /usr/local/bin/python3.13 /usr/bin/python3.13
    "$(command -v python3 || true)"
  )
  for candidate in "${candidates[@]}"; do
    if is_python313 "$candidate"; then echo "$candidate"; return 0; fi
  done
  cat >&2 <<EOF
No Python 3.13 found; LocalStack's runtime without Docker needs one. Looked at: python3.13 on
PATH, $pyenv_root/versions/3.13*, uv's Pythons, /usr/local/bin, /usr/bin, python3.
Install one (pyenv install 3.13, or uv python install 3.13) or point at it:
  PYTHON313=/path/to/python3.13 $0
EOF
  return 3
}

# The venv, once made, is the interpreter: nothing else needs finding.
if is_python313 "$venv/bin/python"; then python="$venv/bin/python"; else python="$(find_python313)" || exit 3; fi
if [[ "${1:-}" == "--python" ]]; then
  echo "$python"
  exit 0
fi

mkdir -p "$state"
# One install at a time (two test sessions may start together); reinstall when the pins change.
exec 9>"$state/install.lock"
flock 9
if [[ "$(cat "$venv/installed.txt" 2>/dev/null)" != "${requirements[*]}" ]]; then
  "$python" -m venv --clear "$venv"
  "$venv/bin/pip" install --quiet "${requirements[@]}"
  echo "${requirements[*]}" >"$venv/installed.txt"
fi
flock -u 9
exec 9>&-

root="${LOCALSTACK_FILESYSTEM_ROOT:-$state/root}"
mkdir -p "$root"
# OVERRIDE_IN_DOCKER=0: do not write /var/lib/localstack or edit resolv.conf;
# GATEWAY_SERVER=hypercorn: listen on 127.0.0.1 only; DNS_ADDRESS=0: no DNS server on :53.
env OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$root" \
  GATEWAY_LISTEN="${GATEWAY_LISTEN:-127.0.0.1:4566}" GATEWAY_SERVER=hypercorn DNS_ADDRESS=0 \
  DISABLE_EVENTS=1 SERVICES=s3,stepfunctions,cloudwatch,sns,sqs,events,iam,sts,logs \
  "$venv/bin/python" -m localstack.runtime.main &
localstack=$!

# SIGTERM or Ctrl-C: pass SIGTERM on, and SIGKILL what is left after a grace period (LocalStack's
# shutdown has been seen to hang after it said "bye").
stop() {
  trap - TERM INT
  kill -TERM "$localstack" 2>/dev/null || true
  local deadline=$((SECONDS + 8))
  while ((SECONDS < deadline)); do
    kill -0 "$localstack" 2>/dev/null || exit 0
    sleep 0.2
  done
  echo "LocalStack did not stop within 8 s of SIGTERM: killed" >&2
  pkill -KILL -P "$localstack" 2>/dev/null || true
  kill -KILL "$localstack" 2>/dev/null || true
  exit 0
}
trap stop TERM INT
wait "$localstack"
