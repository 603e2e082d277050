#!/usr/bin/env bash
# Static checks: ruff on the Python, yamllint on the plain YAML, salt-lint on
# every SLS file, shellcheck on every shell script, docutils on the RST
# documents outside docs/, and the Sphinx build of docs/ (a warning fails).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== ruff"
.venv/bin/ruff check .
echo "== yamllint"
.venv/bin/yamllint -s .
echo "== salt-lint"
find lxd reactor -name '*.sls' -print0 | sort -z | xargs -0 .venv/bin/salt-lint
echo "== shellcheck"
mapfile -t scripts < <(git ls-files -z | xargs -0 awk \
    'FNR == 1 && /^#!.*[\/ ](ba)?sh( |\r?$)/ { print FILENAME } { nextfile }')
((${#scripts[@]})) || { echo "no shell scripts found" >&2; exit 1; }
shellcheck "${scripts[@]}"
echo "== rst"
for document in README.rst BENCHMARKS.rst CHANGELOG.rst; do
    .venv/bin/python -m docutils --halt=warning --report=warning "$document" /dev/null
done
echo "== docs"
docs_out=$(mktemp -d)
trap 'rm -rf "$docs_out"' EXIT
.venv/bin/sphinx-build -W --keep-going -q -b html docs "$docs_out"
