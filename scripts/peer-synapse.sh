#!/usr/bin/env bash
# Sets up and starts a local Synapse (the Matrix reference homeserver) for
# `confab-bench peer`, which measures it next to Confab with the same driver.
#
#   scripts/peer-synapse.sh DIR [PORT]
#
# Everything goes into DIR (give it a temporary directory): a Python venv with
# matrix-synapse from PyPI, a generated homeserver config using SQLite, its data, its
# log (DIR/homeserver.log), and the registration secret the bench reads
# (DIR/registration_shared_secret). Run again with the same DIR, it reuses all of
# that and starts the same server. Synapse runs in the foreground until Ctrl-C; it
# listens on 127.0.0.1:PORT (default 8008), client API only.
#
# Synapse's own settings are left as generated, except (in DIR/bench.yaml, read after
# the generated config and overriding it):
# - listeners: loopback only, the client API only (the bench never federates);
# - registration_shared_secret: a fresh random one, written to a file the bench
#   reads, so the bench registers its accounts through the admin API while open
#   registration stays off;
# - rc_message: Synapse lets a user send 0.2 messages/s (burst 10) by default; the
#   bench's sender is one user, so without this the comparison would measure that
#   throttle, not the server. Confab's bench runs raise its message limits likewise.
# - trusted_key_servers: none, so Synapse never tries to reach matrix.org.
# The other rate limits the bench meets are per user (room creation, joins) and each
# run uses fresh accounts, so their bursts are never exhausted: they stay as they are.
#
# SYNAPSE_VERSION picks the PyPI version (default: the one docs/benchmarks.md was
# measured with).

set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: scripts/peer-synapse.sh DIR [PORT]" >&2
    exit 2
fi
mkdir -p "$1"
dir=$(cd "$1" && pwd)
port=${2:-8008}
version=${SYNAPSE_VERSION:-1.163.2}
cd "$dir"

if [ ! -x venv/bin/python ]; then
    echo "== creating a venv in $dir/venv"
    python3 -m venv venv
fi
if ! venv/bin/python -c "import synapse, sys; sys.exit(synapse.__version__ != '$version')" 2>/dev/null; then
    echo "== installing matrix-synapse $version from PyPI"
    venv/bin/pip install --quiet "matrix-synapse==$version"
fi

if [ ! -f homeserver.yaml ]; then
    echo "== generating homeserver.yaml (server name localhost, SQLite in $dir/data)"
    venv/bin/python -m synapse.app.homeserver \
        --server-name localhost \
        --config-path homeserver.yaml \
        --data-directory data \
        --generate-config \
        --report-stats=no
fi

if [ ! -s registration_shared_secret ]; then
    (umask 077 && venv/bin/python -c "import secrets; print(secrets.token_hex(32))" > registration_shared_secret)
fi

cat > bench.yaml <<EOF
# Written by scripts/peer-synapse.sh on every start; overrides homeserver.yaml.
listeners:
  - port: $port
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
registration_shared_secret: "$(cat registration_shared_secret)"
rc_message:
  per_second: 1000000
  burst_count: 1000000
trusted_key_servers: []
suppress_key_server_warning: true
EOF

echo "== starting Synapse $version on http://127.0.0.1:$port (log: $dir/homeserver.log)"
echo "   then: confab-bench peer --synapse-url http://127.0.0.1:$port --synapse-secret-file $dir/registration_shared_secret"
exec venv/bin/python -m synapse.app.homeserver -c homeserver.yaml -c bench.yaml
