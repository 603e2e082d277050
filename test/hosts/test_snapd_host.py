"""Real snapd, as Debian 12 ships it (2.57.6), inside a systemd host: what
the formula's snap module reads from it and how it refuses what this snapd
cannot do. The snap store is unreachable here, so no store snap (LXD's
among them) can be installed: every app snap needs the `snapd` or `core`
system snap from the store first. A base snap packed here with `snap pack`
and installed with `--dangerous` is what real snapd can hold."""

import pytest

pytestmark = pytest.mark.hosts

NAME = "snap-1"
BASE = "lxdtestbase"
PACK = f"""set -e
mkdir -p /root/{BASE}/meta
for d in bin etc usr lib tmp proc sys dev run home root snap var/lib/snapd var/snap var/log \\
         var/tmp media mnt; do mkdir -p /root/{BASE}/$d; done
printf "name: {BASE}\\nversion: '1'\\ntype: base\\n" > /root/{BASE}/meta/snap.yaml
cd /root && snap pack {BASE} /root >/dev/null && ls /root/{BASE}_1_all.snap
"""


@pytest.fixture(scope="module")
def host(hosts):
    host = hosts.add(NAME, 31, mode="standalone", install={"method": "snap"})
    # as lxd.install.snap does: FUSE before snapd (its self-test runs at start)
    for packages in ('["squashfuse", "fuse3"]', '["snapd"]'):
        installed = hosts.salt.run("pkg.install", f"pkgs={packages}", "refresh=True",
                                   minion_tgt=NAME)
        assert installed.returncode == 0, installed
    # the snap module loads once `snap` is there
    refreshed = hosts.salt.run("saltutil.refresh_modules", "async=False", minion_tgt=NAME)
    assert refreshed.returncode == 0, refreshed
    return host


def call(hosts, *args):
    return hosts.salt.run(*args, minion_tgt=NAME)


def test_real_snapd_is_read_as_the_formula_expects(hosts, host):
    assert call(hosts, "lxd_snap.wait_seeded").data is True
    version = call(hosts, "lxd_snap.version").data
    assert version.startswith("2.57.6"), version
    assert call(hosts, "lxd_snap.holds_supported").data is False
    built = host.run("sh", "-c", PACK).stdout.strip()
    info = call(hosts, "lxd_snap.install_file", BASE, built).data
    assert info == {"name": BASE, "version": "1", "revision": "x1", "channel": "-",
                    "held": False, "cohort": False}
    # a second install: snapd's notice, exit 0, nothing changed
    assert call(hosts, "lxd_snap.install", BASE).data == info
    assert call(hosts, "lxd_snap.get", BASE).data == {}
    assert call(hosts, "lxd_snap.info", "lxd").data is None


def test_a_hold_this_snapd_cannot_make_fails_naming_the_key(hosts, host):
    held = call(hosts, "lxd_snap.hold", BASE)
    assert held.returncode != 0 and "unknown flag `hold'" in str(held.data)
    result = call(hosts, "state.single", "lxd_snap.installed", BASE, "hold=True", "refresh=False")
    state = next(iter(result.data.values()))
    assert state["result"] is False and state["changes"] == {}
    assert state["comment"].startswith("lxd:install:hold: snapd 2.57.6")
