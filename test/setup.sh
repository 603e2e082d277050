#!/usr/bin/env bash
# Installs what the formula and its tests need, from nothing: Debian's LXD
# and Incus (from bookworm-backports; both run without systemd, one daemon
# per simulated host), busybox-static for tiny test images, nftables for
# bridges, and a venv with the pinned Python dependencies in .venv. Safe to
# re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

# apt_install LIST [apt-get options]: the packages of LIST not installed yet
apt_install() {
    local list=$1 package missing=()
    shift
    mapfile -t packages < "$list"
    for package in "${packages[@]}"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    echo "== apt: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "$@" "${missing[@]}" >/dev/null
}

apt_install test/apt-packages.txt

# Incus 6.0 LTS: in Debian 13's main, in bookworm-backports for Debian 12.
# shellcheck source=/dev/null
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
if [[ $codename == bookworm ]]; then
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "== apt: adding bookworm-backports"
        printf '%s\n' "Types: deb" "URIs: http://deb.debian.org/debian" \
            "Suites: bookworm-backports" "Components: main" \
            "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" \
            >/etc/apt/sources.list.d/bookworm-backports.sources
    fi
    apt_install test/apt-backports.txt -t bookworm-backports
else
    apt_install test/apt-backports.txt
fi

if [[ ! -x .venv/bin/python ]] || ! cmp -s requirements.txt .venv/.requirements; then
    echo "== venv: installing requirements.txt into .venv"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
    cp requirements.txt .venv/.requirements
fi

# The Salt 3007 tier: a second venv with the pinned requirements-3007.txt
# (installed as pinned, see its header), and the formula in it as a pip
# user has it: the saltext-lxd wheel built from this checkout, rebuilt
# whenever its sources change (test/conftest.py refuses a stale one).
if [[ ! -x .venv-3007/bin/python ]] || ! cmp -s requirements-3007.txt .venv-3007/.requirements; then
    echo "== venv: installing requirements-3007.txt into .venv-3007"
    rm -rf .venv-3007
    python3 -m venv .venv-3007
    .venv-3007/bin/pip install -q --disable-pip-version-check --no-deps -r requirements-3007.txt
    cp requirements-3007.txt .venv-3007/.requirements
fi
package_digest=$(sha256sum pyproject.toml setup.py MANIFEST.in FORMULA src/saltext/lxd/*.py \
    _modules/*.py _states/*.py _runners/*.py _utils/*.py lxd/parameters/defaults.yaml | sha256sum)
if [[ $(cat .venv-3007/.package 2>/dev/null) != "$package_digest" ]]; then
    echo "== venv: building saltext-lxd from this checkout and installing it into .venv-3007"
    rm -rf build ./*.egg-info dist  # setuptools would carry deleted modules over from build/
    .venv-3007/bin/pip wheel -q --disable-pip-version-check --no-deps -w dist .
    .venv-3007/bin/pip install -q --disable-pip-version-check --no-deps --force-reinstall \
        dist/saltext_lxd-*.whl
    rm -rf build ./*.egg-info dist
    echo "$package_digest" > .venv-3007/.package
fi
