#!/usr/bin/env bash
# Install (from Debian's packages) and start PostgreSQL 15 with a `memory` role that
# may create databases. Idempotent; needs root.
set -euo pipefail
if [ ! -x /usr/lib/postgresql/15/bin/postgres ]; then
  echo "postgres: installing postgresql from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
if ! pg_lsclusters -h | grep -q '^15 *main'; then
  pg_createcluster 15 main >/dev/null
fi
pg_ctlcluster 15 main start 2>/dev/null || true
for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 && break; sleep 0.2; done
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_roles WHERE rolname='memory'\" | grep -q 1 || psql -q -c \"CREATE ROLE memory LOGIN CREATEDB PASSWORD 'memory'\""
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_database WHERE datname='memory'\" | grep -q 1 || createdb -O memory memory"
echo "postgres: ready at postgres://memory:memory@127.0.0.1:5432/memory"
