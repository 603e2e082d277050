#!/usr/bin/env bash
# Installs what the formula and its tests need, from nothing: Debian's LXD
# (run without systemd, one daemon per simulated host), busybox-static for
# tiny test images, nftables for LXD's bridges, and a venv with the pinned
# Python dependencies in .venv. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t packages < test/apt-packages.txt
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "== apt: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]] || ! cmp -s requirements.txt .venv/.requirements; then
    echo "== venv: installing requirements.txt into .venv"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
    cp requirements.txt .venv/.requirements
fi
