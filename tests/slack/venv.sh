#!/usr/bin/env bash
# Creates target/slack-venv with Slack's Python SDK (tests/slack/requirements.txt) for
# the e2e test that drives /api/slack/ with it. Idempotent: a venv that already has
# the pinned version is left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/slack-venv
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import slack_sdk, sys; sys.exit(slack_sdk.version.__version__ != "3.47.0")' 2>/dev/null; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/slack/requirements.txt
