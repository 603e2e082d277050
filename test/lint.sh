#!/usr/bin/env bash
# Static checks: ruff on the Python, yamllint on the plain YAML, salt-lint on every SLS file.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== ruff"
.venv/bin/ruff check .
echo "== yamllint"
.venv/bin/yamllint -s .
echo "== salt-lint"
find lxd reactor -name '*.sls' -print0 | sort -z | xargs -0 .venv/bin/salt-lint
