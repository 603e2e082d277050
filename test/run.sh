#!/usr/bin/env bash
# Sets up (test/setup.sh) and runs every test: unit, functional (real LXD
# daemons) and integration (real salt-master and salt-minion).
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/setup.sh
exec .venv/bin/pytest test "$@"
