"""Pillar merging and validation (lxd_pillar), no daemon involved."""

import ipaddress
import re
from pathlib import Path

import lxd_addresses
import lxd_secrets
import lxd_settings
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

DEFAULTS = yaml.safe_load((REPO / "lxd/parameters/defaults.yaml").read_text())["lxd"]


@pytest.fixture
def lxd_pillar(loaders):
    return loaders.modules.lxd_pillar


def errors_for(lxd_pillar, pillar):
    return lxd_pillar.validate(pillar, DEFAULTS, check_daemon=False)


def test_pillar_example_is_valid(lxd_pillar):
    example = yaml.safe_load((REPO / "pillar.example").read_text())["lxd"]
    assert errors_for(lxd_pillar, example) == []


def test_empty_pillar_is_valid_and_gets_every_default(lxd_pillar):
    assert errors_for(lxd_pillar, {}) == []
    assert lxd_pillar.merge(DEFAULTS, {}) == DEFAULTS


def test_defaults_are_read_from_the_formula(lxd_pillar):
    assert lxd_pillar.merge(pillar={}) == DEFAULTS


def test_parameters_given_by_the_master_are_used_instead_of_the_file(loaders, lxd_pillar):
    # the lxd_cluster runner sends them with its status job
    given = {"lxd": dict(DEFAULTS, timeouts=dict(DEFAULTS["timeouts"], request=7))}
    lxd_settings.use_parameters(loaders.context, given)
    assert lxd_pillar.merge(pillar={})["timeouts"]["request"] == 7
    assert lxd_pillar.merge(pillar={"timeouts": {"request": 9}})["timeouts"]["request"] == 9


@pytest.mark.parametrize(
    ("pillar", "expected"),
    [
        ({"mode": "swarm"}, "lxd:mode: unknown mode 'swarm'"),
        ({"install": {"channel": "latest/stabel"}},
         "lxd:install:channel: 'latest/stabel' is not a snap channel"),
        ({"install": {"channel": "a/b/c/d"}}, "lxd:install:channel:"),
        ({"install": {"method": "apt"}}, "lxd:install:method: unknown method 'apt'"),
        ({"install": "snap"}, "lxd:install: must be a mapping, not a string"),
        ({"install": {"hold": "yes"}}, "lxd:install:hold: must be a boolean, not a string"),
        ({"install": {"extra_packages": "nftables"}},
         "lxd:install:extra_packages: must be a list of package names"),
        ({"install": {"extra_packages": ["nft tables"]}}, "lxd:install:extra_packages:"),
        ({"sysctl_tuning": "true"}, "lxd:sysctl_tuning: must be a boolean"),
        ({"kernel_hardening": 1}, "lxd:kernel_hardening: must be a boolean"),
        ({"snap_config": {"daemon.debug": [1]}},
         "lxd:snap_config:daemon.debug: must be a string, number or boolean"),
        ({"snap_config": "daemon.debug=true"}, "lxd:snap_config: must be a mapping"),
        ({"sysctl": {"not a key": 1}}, "lxd:sysctl:not a key: not a sysctl key name"),
        ({"init": {"preseed": "config: [unclosed"}}, "lxd:init:preseed: not parsable as YAML"),
        ({"init": {"preseed": {"networks": [{"name": "br", "project": ["ci"]}]}}},
         "lxd:init:preseed:networks:0:project: not a name LXD takes"),
        ({"listen": {"https": "yes"}}, "lxd:listen:https: must be a boolean"),
        ({"listen": {"ftp": True}}, "lxd:listen:ftp: unknown key"),
        ({"addresses": {"metrics": "10.0.0.300"}},
         "lxd:addresses:metrics: '10.0.0.300' is not an IP address"),
        ({"proxy": {"http": "proxy:3128"}}, "lxd:proxy:http: must be a proxy URL"),
        ({"proxy": {"no_proxy": {"a": 1}}}, "lxd:proxy:no_proxy: must be a comma-separated string or a list"),
        ({"sideload": {"binary": "/tmp/lxd"}}, "lxd:sideload:binary: must be a salt:// URL"),
        ({"install": {"method": "package"}, "sideload": {"snap": "salt://lxd.snap"}},
         "lxd:sideload: sideloading replaces the snap's LXD: it needs lxd:install:method snap"),
        ({"trust": {"clients": {"ci": {}}}},
         "lxd:trust:clients:ci: give exactly one of cert (PEM) and cert_url"),
        ({"trust": {"clients": {"ci": {"cert_url": "ftp://x/c.crt"}}}},
         "lxd:trust:clients:ci:cert_url: must be an https://"),
        ({"trust": {"clients": {"ci": {"cert_url": "salt://c.crt", "projects": "ci"}}}},
         "lxd:trust:clients:ci:projects: must be a list of project names"),
        ({"trust": {"clients": {"ci": {"cert_url": "salt://c.crt", "type": "admin"}}}},
         "lxd:trust:clients:ci:type: unknown type 'admin'"),
        ({"trust": {"clients": {"ci": {"cert_url": "salt://c.crt", "owner": "me"}}}},
         "lxd:trust:clients:ci:owner: unknown key"),
        # LXD >= 6.2 refuses such certificate names (test/unit/test_trust_rules.py)
        ({"trust": {"clients": {"ci/runner": {"cert_url": "salt://c.crt"}}}},
         "lxd:trust:clients:ci/runner: it would be trusted as 'salt:ci/runner', which "
         "holds '/': LXD refuses such certificate names"),
        ({"trust": {"clients": {7: {"cert_url": "salt://c.crt"}}}},
         "lxd:trust:clients:7: a client's name must be a string, not int (7)"),
        ({"client": {"cert": "client.crt"}}, "lxd:client:cert: must be an absolute path"),
        ({"client": {"cluster": "a b"}}, "lxd:client:cluster: 'a b' is not a cluster name"),
        ({"init": {"preseed": "- a\n- b"}},
         "lxd:init:preseed: must be a mapping or YAML text of one, not a list"),
        ({"init": {"preseed": {"storage_pool": []}}},
         "lxd:init:preseed:storage_pool: unknown preseed section"),
        ({"init": {"preseed": {"storage_pools": [{"driver": "dir"}]}}},
         "lxd:init:preseed:storage_pools:0:name: every entry needs a name"),
        ({"init": {"preseed": {"cluster": {"enabled": True}}}},
         "lxd:init:preseed:cluster: clustering is set by lxd:mode"),
        ({"init": {"storage_devices": "/dev/sdb"}},
         "lxd:init:storage_devices: must be a list of device paths"),
        ({"init": {"network": "yes"}}, "lxd:init:network: must be a boolean or a mapping"),
        ({"connection": {"url": "http://x:8443"}}, "lxd:connection:url: must be an https:// URL"),
        ({"connection": {"url": "https://x:8443"}},
         "lxd:connection:url: an https connection needs cert and key"),
        ({"files": {"sysctl_conf": "60-lxd.conf"}}, "lxd:files:sysctl_conf: must be an absolute path"),
        ({"hardening": {"/etc/passwd": {"mode": "0400", "default": "0644"}}},
         "lxd:hardening:/etc/passwd: only paths under /proc and /sys"),
        ({"hardening": {"/sys/kernel/slab": {"mode": "rwx", "default": "0755"}}},
         "lxd:hardening:/sys/kernel/slab:mode: must be an octal mode"),
        ({"sysctl_tunning": True}, "lxd:sysctl_tunning: unknown key"),
        ({"backend": "docker"}, "lxd:backend: unknown backend 'docker'"),
        ({"proxy": {"https": "http://[::1:3128"}},
         "lxd:proxy:https: must be a proxy URL such as http://proxy.example.net:3128 "
         "('http://[::1:3128': Invalid IPv6 URL)"),
        ({"proxy": {"http": "http://proxy.lan:99999"}}, "lxd:proxy:http: must be a proxy URL"),
        ({"proxy": {"http": "ftp://proxy.lan:21"}}, "lxd:proxy:http: must be a proxy URL"),
        ({"timeouts": {"request": 0}}, "lxd:timeouts:request: must be a whole number of seconds"),
        ({"timeouts": {"wait": 5}}, "lxd:timeouts:wait: unknown key"),
        ({"client": {"projects": ["ci"]}},
         "lxd:client:projects: a client cannot choose its own access: set it on the hosts"),
        ({"trust": {"client_minions": {"ci": {"projects": ["ci"]}}}},
         "lxd:trust:client_minions:ci:target: every rule needs a target"),
        ({"trust": {"client_minions": {"ci": {"target": "ci*", "tgt_type": "nodegroup"}}}},
         "lxd:trust:client_minions:ci:tgt_type: unknown target type 'nodegroup'"),
        ({"trust": {"client_minions": {"ci": {"target": "ci*", "type": "admin"}}}},
         "lxd:trust:client_minions:ci:type: unknown type 'admin'"),
        ({"backend": "incus", "install": {"method": "snap"}},
         "lxd:install:method: Incus is not published as a snap"),
        ({"backend": "incus", "install": {"channel": "6/stable"}},
         "lxd:install:channel: only the LXD snap has this"),
        ({"backend": "incus", "snap_config": {"daemon.debug": True}},
         "lxd:snap_config: only the LXD snap has this"),
        ({"backend": "incus", "files": {"sideload_binary": "/tmp/lxd"}},
         "lxd:files:sideload_binary: only the LXD snap has this"),
        ({"install": {"backports": "deb.debian.org"}},
         "lxd:install:backports: must be a boolean or a Debian mirror URL"),
        ({"install": {"backports": True}},
         "lxd:install:backports: backports are a package source: they need "
         "lxd:install:method package, not 'snap'"),
        ({"storage_pools": {"fast": {"config": {"size": "10GiB"}}}},
         "lxd:storage_pools:fast:driver: missing"),
        ({"profiles": {"web": {"devices": {"root": {"path": "/", "pool": "fast"}}}}},
         "lxd:profiles:web:devices:root:type: missing"),
        ({"profiles": {"web": {"members": {}}}},
         "lxd:profiles:web:members: unknown key"),
        ({"profiles": {"web": {"config": {"user.salt.managed": "x"}}}},
         "lxd:profiles:web:config:user.salt.managed: the formula's own mark"),
        ({"networks": {"br/0": {}}},
         "lxd:networks:br/0: not a name LXD takes"),
        ({"networks": {"br0": {"config": {"ipv4.routes": ["10.0.0.0/8"]}}}},
         "lxd:networks:br0:config:ipv4.routes: must be a string, number or boolean"),
        ({"projects": ["ci"]},
         "lxd:projects: must be a mapping of names, not a list"),
        ({"projects": {"ci": {"present": "no"}}},
         "lxd:projects:ci:present: must be a boolean"),
        ({"profiles": {"web": {}, "web2": {"name": "web", "project": "default"}}},
         "lxd:profiles:web2: names the same web in project default as lxd:profiles:web"),
        ({"profiles": {"web": {"name": ["web"]}}},
         "lxd:profiles:web:name: not a name LXD takes"),
        ({"networks": {"br": {"project": "no/such"}}},
         "lxd:networks:br:project: not a name LXD takes"),
        ({"storage_pools": {"fast": {"driver": "dir", "project": "web"}}},
         "lxd:storage_pools:fast:project: unknown key"),
        ({"profiles": {"web": None}},
         "lxd:profiles:web: must be a mapping (an empty one: {}), not nothing"),
        ({"profiles": {"web": {"devices": {"eth0": None}}}},
         "lxd:profiles:web:devices:eth0:type: missing"),
    ],
)
def test_bad_values_name_the_key_and_the_reason(lxd_pillar, pillar, expected):
    errors = errors_for(lxd_pillar, pillar)
    assert any(error.startswith(expected) for error in errors), errors


MODES = {"mode": "0400", "default": "0444"}


@pytest.mark.parametrize(
    ("pillar", "expected"),
    [
        # hardening: every step of the path stays in /proc or /sys, as declared
        ({"hardening": {"/proc/self/root/etc/shadow": MODES}},
         "lxd:hardening:/proc/self/root/etc/shadow: leaves /proc and /sys: "
         "/proc/self/root leads to /"),
        # realpath alone takes this one back into /proc
        ({"hardening": {"/proc/self/root/proc/sched_debug": MODES}},
         "lxd:hardening:/proc/self/root/proc/sched_debug: leaves /proc and /sys: "
         "/proc/self/root leads to /"),
        ({"hardening": {"/proc/self/cwd": MODES}},
         "lxd:hardening:/proc/self/cwd: leaves /proc and /sys: /proc/self/cwd leads to /"),
        ({"hardening": {"/sys/kernel/../../etc/shadow": MODES}},
         "lxd:hardening:/sys/kernel/../../etc/shadow: is not a plain absolute path "
         "(no . or .. steps"),
        ({"hardening": {"/sys/kernel/slab/": MODES}},
         "lxd:hardening:/sys/kernel/slab/: is not a plain absolute path"),
        ({"hardening": {"/sys/kernel/slab\nz /etc/shadow 0777 - - -": MODES}},
         "lxd:hardening:'/sys/kernel/slab\\nz /etc/shadow 0777 - - -': "
         "has a control character ('\\n')"),
        ({"hardening": {"/sys/kernel/slab /etc/shadow": MODES}},
         "lxd:hardening:/sys/kernel/slab /etc/shadow: has ' ', which a tmpfiles.d rule "
         "does not take as written"),
        ({"hardening": {"/sys/kernel/*": MODES}}, "lxd:hardening:/sys/kernel/*: has '*'"),
        ({"hardening": {"/proc/%h": MODES}}, "lxd:hardening:/proc/%h: has '%'"),
        # sysctl: each key is one line of files:sysctl_conf
        ({"sysctl": {"vm.max_map_count": "262144\nkernel.modprobe = /tmp/x"}},
         "lxd:sysctl:vm.max_map_count: the value has a control character ('\\n')"),
        ({"sysctl": {"kernel.dmesg_restrict": "1\r"}},
         "lxd:sysctl:kernel.dmesg_restrict: the value has a control character ('\\r')"),
        ({"sysctl": {"vm.max_map_count\n": 1}},
         "lxd:sysctl:'vm.max_map_count\\n': the key has a control character ('\\n')"),
        # files: the formula's own files, spelled as the one path they are
        ({"files": {"sysctl_conf": "/etc/sysctl.d/../shadow"}},
         "lxd:files:sysctl_conf: '/etc/sysctl.d/../shadow' is not a plain absolute path"),
        ({"files": {"tmpfiles_conf": "/etc/tmpfiles.d/lxd.conf\n"}},
         "lxd:files:tmpfiles_conf: '/etc/tmpfiles.d/lxd.conf\\n' has a control character"),
        ({"files": {"sysctl_conf": "/proc/self/root/etc/shadow"}},
         "lxd:files:sysctl_conf: '/proc/self/root/etc/shadow' resolves to /etc/shadow: "
         "give a path without symlinks"),
        ({"files": {"sysctl_conf": "/etc"}},
         "lxd:files:sysctl_conf: '/etc' is a directory: give the path of the file itself"),
        ({"files": {"deb_data": "/var/lib/lxd/../snapd"}},
         "lxd:files:deb_data: '/var/lib/lxd/../snapd' is not a plain absolute path"),
        ({"install": {"extra_packages": ["nftables\n"]}}, "lxd:install:extra_packages:"),
        # a trailing newline is not part of any name
        ({"install": {"channel": "latest/stable\n"}}, "lxd:install:channel:"),
        ({"cluster": {"name": "default\n"}}, "lxd:cluster:name:"),
    ],
)
def test_pillar_that_could_damage_the_host_is_refused(lxd_pillar, pillar, expected):
    errors = errors_for(lxd_pillar, pillar)
    assert any(error.startswith(expected) for error in errors), errors
    assert not any("\n" in error for error in errors), errors


# What snap, apt and systemctl would not take for one plain name.
NOT_NAMES = {
    "snap": ["lxd; rm -rf /", "lxd_test", "-lxd", "lxd-", "lx--d", "LXD", "l", "l" * 41,
             "2048", "lxd\n"],
    "package": ["lxd;reboot", "-olxd", "Lxd", "l", "lxd\n"],
    "service": ["../../etc/x", "--root=/tmp", "lxd incus", "", "lxd\n"],
}
NAME_KINDS = {"snap": "a snap name", "package": "a Debian package name",
              "service": "a systemd unit name"}


@pytest.mark.parametrize(("key", "name"),
                         [(key, name) for key, names in NOT_NAMES.items() for name in names])
def test_names_that_are_not_plain_are_refused(lxd_pillar, key, name):
    assert errors_for(lxd_pillar, {"install": {key: name}})[0].startswith(
        f"lxd:install:{key}: {name!r} is not {NAME_KINDS[key]} (")


@pytest.mark.parametrize(
    "pillar",
    [
        {"hardening": {"/proc/sched_debug": MODES, "/sys/kernel/slab": MODES}},
        {"hardening": {"/proc/mounts": MODES}},  # a link that stays in /proc: self/mounts
        {"sysctl": {"net.ipv4.tcp_rmem": "4096 87380 6291456", "vm.max_map_count": 262144}},
        {"files": {"sysctl_conf": "/etc/sysctl.d/60-lxd.conf",
                   "tmpfiles_conf": "/etc/tmpfiles.d/lxd.conf",
                   "sideload_binary": "/var/snap/lxd/common/lxd.debug",
                   "deb_data": "/var/lib/lxd"}},
        {"install": {"snap": "lxd-test"}},
        {"install": {"snap": "0ad"}},
        {"install": {"snap": "a" * 40}},
        {"install": {"method": "package", "package": "g++", "service": "snap.lxd.daemon"}},
        {"install": {"method": "package", "package": "incus-base", "service": "incus.service"}},
        {"install": {"method": "package", "service": "lxd@main"}},
    ],
)
def test_plain_names_and_paths_pass(lxd_pillar, pillar):
    assert errors_for(lxd_pillar, pillar) == []


def test_a_link_this_host_may_not_read_is_refused(lxd_pillar):
    # pid 1's root: unreadable from where the minion runs here, else the whole filesystem
    errors = errors_for(lxd_pillar, {"hardening": {"/proc/1/root/etc/shadow": MODES}})
    assert errors[0] in (
        "lxd:hardening:/proc/1/root/etc/shadow: cannot be judged: /proc/1/root is a link "
        "this host may not read",
        "lxd:hardening:/proc/1/root/etc/shadow: leaves /proc and /sys: /proc/1/root leads to /")


def test_links_that_stay_in_sys_pass(lxd_pillar):
    link = next((path for path in Path("/sys/class").glob("*/*") if path.is_symlink()), None)
    if link is None:
        pytest.skip("no link under /sys/class on this machine")
    assert errors_for(lxd_pillar, {"hardening": {str(link): MODES}}) == []


def test_files_are_the_formulas_own_not_a_directory_or_a_link_elsewhere(lxd_pillar, tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "passwd").symlink_to("/etc/passwd")
    (tmp_path / "mine.conf").write_text("")
    refused = {
        str(tmp_path / "real"): "is a directory: give the path of the file itself",
        str(tmp_path / "passwd"): "resolves to /etc/passwd: give a path without symlinks",
        str(tmp_path / "link" / "60-lxd.conf"):
            f"resolves to {tmp_path}/real/60-lxd.conf: give a path without symlinks",
    }
    for path, reason in refused.items():
        for key in ("sysctl_conf", "tmpfiles_conf", "sideload_binary"):
            assert errors_for(lxd_pillar, {"files": {key: path}}) == [
                f"lxd:files:{key}: {path!r} {reason}, the file's own"
                if "symlinks" in reason else f"lxd:files:{key}: {path!r} {reason}"]
    # a file of its own, there or still to be written; the package's data
    # directory is a directory, and is only looked into
    assert errors_for(lxd_pillar, {"files": {
        "sysctl_conf": str(tmp_path / "mine.conf"),
        "tmpfiles_conf": str(tmp_path / "real" / "new.conf"),
        "deb_data": str(tmp_path / "link")}}) == []


def test_incus_gets_its_package_defaults_and_keeps_the_rest(lxd_pillar):
    merged = lxd_pillar.merge(pillar={"backend": "incus"})
    assert merged["install"] == dict(DEFAULTS["install"], method="package",
                                     package="incus", service="incus")
    assert merged["sysctl"] == DEFAULTS["sysctl"]
    assert lxd_pillar.merge(pillar={"backend": "incus", "install": {"method": "none"}})[
        "install"]["method"] == "none"
    incus = {"backend": "incus", "install": {"backports": True},
             "sideload": {"binary": None}, "snap_config": {}}
    assert lxd_pillar.validate(incus, check_daemon=False) == []


@pytest.mark.parametrize("url", ["http://[::1]:3128", "http://user:p%40ss@proxy.lan:3128",
                                 "socks5h://10.0.0.1:1080", "https://proxy.lan/"])
def test_good_proxy_urls(lxd_pillar, url):
    assert errors_for(lxd_pillar, {"proxy": {"http": url, "https": url}}) == []


def test_masking_hides_secrets_by_key_name_and_url_passwords_only():
    masked = lxd_secrets.masked({
        "config": {"core.trust_password": "s3cret", "oidc.client.secret": "s3cret",
                   "cluster.join_token_expiry": "15M", "core.remote_token_expiry": "1H",
                   "core.proxy_https": "http://salt:pr0xy@[::1]:3128",
                   "core.proxy_http": "http://proxy.lan:3128",
                   "core.proxy_ignore_hosts": "salt:pr0xy@proxy.lan:3128",
                   "maas.api.key": "k3y"},
        "changes": {"core.trust_password": {"old": "", "new": "s3cret"}},
        "running": [{"metadata": {"secret": "abc", "fingerprint": "f00"}}],
    })
    assert masked["config"] == {
        "core.trust_password": "********", "oidc.client.secret": "********",
        "cluster.join_token_expiry": "15M", "core.remote_token_expiry": "1H",
        "core.proxy_https": "http://salt:********@[::1]:3128",
        "core.proxy_http": "http://proxy.lan:3128",
        "core.proxy_ignore_hosts": "salt:********@proxy.lan:3128",
        "maas.api.key": "********"}
    assert masked["changes"] == {"core.trust_password": {"old": "", "new": "********"}}
    assert masked["running"] == [{"metadata": {"secret": "********", "fingerprint": "f00"}}]


@pytest.mark.parametrize(("url", "shown"), [
    ("http://salt:p/a@ss:w#rd?@proxy.lan:3128", "http://salt:********@proxy.lan:3128"),
    ("http://salt:p%2Fa%40ss%3Aw%23rd%3F@proxy.lan:3128", "http://salt:********@proxy.lan:3128"),
    ("socks5h://salt:/?#@@[::1]:1080", "socks5h://salt:********@[::1]:1080"),
    ("http://salt:pw/x?y#z@proxy.lan/", "http://salt:********@proxy.lan/"),
    ("https://t0k/en@proxy.lan", "https://********@proxy.lan"),
    ("http://proxy.lan:3128/", "http://proxy.lan:3128/"),
])
def test_masking_hides_url_credentials_whatever_characters_they_hold(url, shown):
    masked = lxd_secrets.masked({"core.proxy_http": url})
    assert masked == {"core.proxy_http": shown}


def test_values_from_a_masked_pillar_are_quoted_as_given(lxd_pillar):
    secret = pytest.importorskip("salt.utils.secret")
    pillar = secret.hide({"cluster": {"token_expiry": ["15M"]},
                          "proxy": {"http": "http://user:pw@[::1:3128"}})
    errors = errors_for(lxd_pillar, pillar)
    assert any("lxd:cluster:token_expiry: ['15M'] is not an LXD expiry" in e for e in errors)
    assert not any("pw@" in error for error in errors), errors


@pytest.mark.parametrize("expiry", ["25H", "1d 1S", "2d", "1w", "1m", "1y"])
def test_a_join_token_lasts_a_day_at_most(lxd_pillar, expiry):
    assert errors_for(lxd_pillar, {"cluster": {"token_expiry": expiry}}) == [
        f"lxd:cluster:token_expiry: {expiry!r} is longer than 1d: a join token lets whoever "
        "holds it join the cluster, so it lasts 1d at most"]


@pytest.mark.parametrize("expiry", ["15M", "1d", "24H", "23H 60M", "86400S"])
def test_token_expiries_up_to_a_day(lxd_pillar, expiry):
    assert errors_for(lxd_pillar, {"cluster": {"token_expiry": expiry}}) == []


def test_expiries_count_their_longest():
    # a month and a year as their longest, so that a bound is never too tight
    assert lxd_settings.expiry_seconds("1d 12H") == 36 * 3600
    assert lxd_settings.expiry_seconds("1m 1y") == (31 + 366) * 86400


@pytest.mark.parametrize(("spec", "parsed"), [
    ("192.0.2.1", ("ip", ipaddress.ip_address("192.0.2.1"), None)),
    ("[fd00::1]:8443", ("ip", ipaddress.ip_address("fd00::1"), 8443)),
    ("10.0.0.0/8", ("network", ipaddress.ip_network("10.0.0.0/8"), None)),
    ("eth0", ("interface", "eth0", None)),
])
def test_an_address_names_an_ip_a_network_or_an_interface(spec, parsed):
    assert lxd_addresses.parse_address(spec) == parsed


@pytest.mark.parametrize("spec", ["192.0.2.1:0", "[eth0]", "10.0.0", "a-very-long-interface0"])
def test_an_address_that_names_nothing_is_refused(spec):
    with pytest.raises(ValueError, match=re.escape(repr(spec))):
        lxd_addresses.parse_address(spec)


def test_not_a_mapping(lxd_pillar):
    assert errors_for(lxd_pillar, ["mode"]) == ["lxd: must be a mapping, not a list"]


@pytest.mark.parametrize("channel", ["stable", "latest/stable", "5.21/candidate", "5.0/edge/fix-123"])
def test_good_channels(lxd_pillar, channel):
    assert errors_for(lxd_pillar, {"install": {"channel": channel}}) == []


def test_merge_keeps_defaults_where_pillar_has_the_wrong_shape(lxd_pillar):
    merged = lxd_pillar.merge(DEFAULTS, {"install": "snap", "init": {"storage": False}})
    assert merged["install"] == DEFAULTS["install"]
    assert merged["init"]["storage"] is False
    assert merged["init"]["network"] is True


def test_preseed_from_yaml_text_or_defaults(lxd_pillar):
    text = "storage_pools:\n- name: p\n  driver: dir\n"
    assert lxd_pillar.preseed({"preseed": text}) == {
        "storage_pools": [{"name": "p", "driver": "dir"}]
    }
    default = lxd_pillar.preseed({"preseed": {}, "storage": False, "network": False})
    assert default == {"config": {}, "profiles": [{"name": "default", "devices": {}}]}


def test_the_snap_does_not_take_over_a_packages_lxd_where_lxd_migrate_cannot(loaders, tmp_path):
    (tmp_path / "database").mkdir()
    pillar = {"install": {"method": "snap", "channel": "5.21/stable"},
              "files": {"deb_data": str(tmp_path)}}
    errors = loaders.modules.lxd_pillar.validate(pillar, check_daemon=True)
    assert len(errors) == 1 and errors[0].startswith(
        f"lxd:install:method: {tmp_path} holds the data of a distribution package's LXD")
    assert "lxd.migrate ships only in the 4.0 and 5.0 snaps" in errors[0]
    # an empty data directory (the package installed, never initialised) is no obstacle
    (tmp_path / "database").rmdir()
    assert loaders.modules.lxd_pillar.validate(pillar, check_daemon=True) == []


def test_the_packages_data_directory_is_looked_at_only_when_valid(loaders):
    assert loaders.modules.lxd_pillar.validate({"files": {"deb_data": 5}}, check_daemon=True) == [
        "lxd:files:deb_data: must be an absolute path, not 5"]
