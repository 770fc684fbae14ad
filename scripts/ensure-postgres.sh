#!/usr/bin/env bash
# The integration tests use the local PostgreSQL (127.0.0.1:5432, trust auth). Start the
# Debian cluster if it is installed but down; fail clearly if there is none.
set -euo pipefail
host=127.0.0.1 port=5432
ready() { pg_isready -q -h "$host" -p "$port" 2>/dev/null; }
ready && exit 0
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do ready && exit 0; sleep 1; done
fi
echo "PostgreSQL is not reachable on $host:$port (set VIDIGEST_TEST_POSTGRES_URL to use another server)" >&2
exit 1
