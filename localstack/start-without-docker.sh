#!/usr/bin/env bash
# LocalStack's runtime without Docker, for the services it can run that way: S3, SQS, SNS,
# EventBridge, Step Functions, CloudWatch (with real alarm evaluation), IAM, STS, Logs.
# No Lambda, no API Gateway v2, no DynamoDB there: use moto (the tests) or Docker for those.
#
#   localstack/start-without-docker.sh            # foreground, Ctrl-C to stop
#   MLOPS_LOCALSTACK_URL=http://127.0.0.1:4566 pytest tests/localstack
#
# Needs Python 3.13 (PYTHON313=/path/to/python3.13 if it is not on PATH).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="${LOCALSTACK_STATE_DIR:-$here/.state}"
python="${PYTHON313:-$(command -v python3.13 || true)}"
if [[ -z "$python" ]]; then
  echo "python3.13 not found: set PYTHON313" >&2
  exit 1
fi
if [[ ! -x "$state/venv/bin/python" ]]; then
  mkdir -p "$state"
  "$python" -m venv "$state/venv"
  "$state/venv/bin/pip" install --quiet 'localstack-core[runtime]==2026.3.0' 'cbor2<6' \
    'pyopenssl==26.1.0' service_identity
fi
mkdir -p "$state/root"
# OVERRIDE_IN_DOCKER=0: do not write /var/lib/localstack or edit resolv.conf;
# GATEWAY_SERVER=hypercorn: listen on 127.0.0.1 only; DNS_ADDRESS=0: no DNS server on :53.
exec env OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$state/root" GATEWAY_LISTEN=127.0.0.1:4566 \
  GATEWAY_SERVER=hypercorn DNS_ADDRESS=0 DISABLE_EVENTS=1 \
  SERVICES=s3,stepfunctions,cloudwatch,sns,sqs,events,iam,sts,logs \
  "$state/venv/bin/python" -m localstack.runtime.main
