#!/usr/bin/env bash
# The reference server for `make bench`: agent-memory-server 0.15.2 in var/reference-venv
# (Python 3.12). 0.15.2 asks for agent-memory-client>=0.14.1, which is not published:
# 0.15.0's dependencies first, then 0.15.2 without them, beside client 0.14.0; mcp<2 and
# redisvl 0.12.1 (newer ones break its hybrid search with a 500); uvicorn[standard].
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=var/reference-venv
[ -x "$VENV/bin/agent-memory" ] && exit 0
PY312=${PY312:-$( (pyenv root 2>/dev/null || echo "$HOME/.pyenv") )/versions/3.12.1/bin/python3.12}
command -v "$PY312" >/dev/null || PY312=$(command -v python3.12 || true)
if [ -z "$PY312" ] || ! "$PY312" -V >/dev/null 2>&1; then
  echo "make bench: no Python 3.12 for the reference server; measuring this server only" >&2
  exit 0
fi
PINS=('agent-memory-client==0.14.0' 'mcp<2' 'redisvl==0.12.1')
if ! { "$PY312" -m venv "$VENV" &&
  "$VENV/bin/pip" install -q --disable-pip-version-check 'agent-memory-server==0.15.0' "${PINS[@]}" 'uvicorn[standard]' &&
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps 'agent-memory-server==0.15.2' &&
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PINS[@]}"; }; then
  echo "make bench: the reference server could not be installed from the package registry; measuring this server only" >&2
  rm -rf "$VENV"
fi
exit 0
