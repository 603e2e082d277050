"""lxd_debug.bundle against a real LXD daemon: the archive, what it holds,
secrets kept out, lxd.buginfo used when present, failures skipped."""

import base64
import gzip
import hashlib
import json
import os
import tarfile
from pathlib import Path

import pytest

from test.support.formula import use_settings
from test.support.images import busybox_image


@pytest.fixture
def bundle(loaders, tmp_path):
    """Make a bundle in a fresh directory; return the result and the
    archive's members by their name under the top directory."""

    def make(**kwargs):
        result = loaders.modules.lxd_debug.bundle(dest=str(tmp_path / "out"), **kwargs)
        with tarfile.open(result["path"], "r:gz") as archive:
            members = {
                member.name.split("/", 1)[1]: archive.extractfile(member).read()
                for member in archive.getmembers()
            }
        return result, members

    return make


def test_the_sysctl_keys_given_are_shown(bundle, lxd_daemon):
    """``sysctl_keys`` replaces lxd:sysctl's keys: each as the kernel has
    it, None for a key this kernel lacks."""
    _, members = bundle(sysctl_keys=["kernel.pid_max", "no.such.key"])
    assert json.loads(members["host/sysctl.json"]) == {
        "kernel.pid_max": Path("/proc/sys/kernel/pid_max").read_text().strip(),
        "no.such.key": None,
    }


def test_archive_holds_server_info_daemon_log_and_host_facts(bundle, lxd_daemon, tmp_path):
    lxd_daemon.lxc("storage", "create", "pool1", "dir")
    result, members = bundle()
    assert result["path"].startswith(str(tmp_path / "out" / "lxd-debug-lxd-test-"))
    assert result["path"].endswith(".tar.gz")
    assert result["size"] == os.path.getsize(result["path"])
    assert sorted(result["files"]) == sorted(members)
    assert result["pushed"] is False

    server = json.loads(members["lxd/server.json"])
    environment = lxd_daemon.query("/1.0")["environment"]
    assert server["environment"]["server_name"] == environment["server_name"]
    assert server["environment"]["server_version"] == environment["server_version"]
    assert "warnings" in json.loads(members["lxd/api-extensions.json"])
    assert json.loads(members["lxd/cluster.json"])["enabled"] is False
    assert "default" in json.loads(members["lxd/profiles.json"])
    pool = json.loads(members["lxd/storage-pools.json"])["pool1"]
    assert pool["driver"] == "dir" and pool["resources"]["space"]["total"] > 0

    # the daemon's --logfile, found from its command line
    daemon_log = (lxd_daemon.root / "daemon.log").read_bytes()
    assert daemon_log and members[f"logs{lxd_daemon.root}/daemon.log"] == daemon_log

    assert os.uname().release.encode() in members["host/uname.txt"]
    assert members["host/os-release"] == Path("/etc/os-release").read_bytes()
    assert members["host/kernel-cmdline"] == Path("/proc/cmdline").read_bytes()
    # df of the daemon's directory: the filesystem it lives on
    mount_point = members["host/df.txt"].decode().splitlines()[-1].split()[-1]
    assert Path(mount_point) in (lxd_daemon.root, *lxd_daemon.root.parents)
    sysctl = json.loads(members["host/sysctl.json"])
    assert sysctl["vm.max_map_count"] == Path("/proc/sys/vm/max_map_count").read_text().strip()
    if lxd_daemon.backend == "lxd":
        assert b"5.0" in members["host/lxd-version.txt"]
        assert "lxd.buginfo" in result["skipped"]["buginfo.txt"]
    else:
        assert b"6.0" in members["host/incusd-version.txt"]
        assert "Incus ships no bug report tool" in result["skipped"]["buginfo.txt"]
        assert "host/snap-list-lxd.txt" not in members

    # not there on this host: said why, not collected
    assert "not enabled" in result["skipped"]["lxd/cluster-members.json"]
    assert "No such file" in result["skipped"][f"logs{lxd_daemon.root}/logs/{lxd_daemon.kind['log_name']}"]
    assert not set(result["skipped"]) & set(result["files"])


def test_default_destination_is_the_minion_cache(loaders, lxd_daemon):
    result = loaders.modules.lxd_debug.bundle()
    directory = Path(loaders.opts["cachedir"]) / "lxd-debug"
    assert Path(result["path"]).parent == directory
    assert tarfile.is_tarfile(result["path"])
    assert oct(os.stat(result["path"]).st_mode & 0o777) == oct(0o600)


def test_secrets_never_reach_the_archive(bundle, lxd_daemon):
    secret_key = lxd_daemon.secret_key
    lxd_daemon.lxc("config", "set", secret_key, "s3cret-pass")
    lxd_daemon.lxc("config", "set", "core.https_address", f"{lxd_daemon.address}:8443")
    # a pending trust token: its operation holds the secret in its metadata
    token = lxd_daemon.trust_token("ci")
    token_secret = json.loads(base64.b64decode(token))["secret"]

    result, members = bundle()

    operations = json.loads(members["lxd/operations.json"])
    tokens = [op for op in operations["running"] if op["class"] == "token"]
    assert [op["metadata"]["secret"] for op in tokens] == ["********"]
    config = json.loads(members["lxd/server.json"])["config"]
    assert config[secret_key] == "********"
    tar_bytes = gzip.decompress(Path(result["path"]).read_bytes())
    for secret in (b"s3cret-pass", token_secret.encode(), token.encode()):
        assert secret not in tar_bytes


def configure_every_secret(daemon, tmp_path):
    """Set every kind of secret this daemon accepts (by its API extensions)
    on the server, a network, the default profile and an instance; return
    the secret values."""
    extensions = daemon.query("/1.0")["api_extensions"]
    secrets = {}

    def server(key, value):
        daemon.lxc("config", "set", key, value)
        secrets[key] = value

    server("core.proxy_https", "http://salt:pr0xy-s3cret@proxy.lan:3128")
    if "loki" in extensions:
        # no loki.api.url: with one, Incus waits on the Loki server it names
        server("loki.auth.username", "l0ki-us3r")
        server("loki.auth.password", "l0ki-s3cret")
    if "acme_dns01" in extensions:
        server("acme.provider.environment", "AWS_SECRET_ACCESS_KEY=acme-s3cret")
    if "network_bgp" in extensions:
        daemon.lxc("config", "set", "core.bgp_address", f"{daemon.address}:1179")
        # names are per host: another daemon's bridge may exist
        bridge = "bgp" + hashlib.sha256(str(daemon.root).encode()).hexdigest()[:8]
        daemon.lxc("network", "create", bridge, "ipv4.address=none", "ipv6.address=none",
                   "bgp.peers.p1.address=127.0.0.1", "bgp.peers.p1.asn=65001")
        daemon.lxc("network", "set", bridge, "bgp.peers.p1.password=bgp-s3cret")
        secrets["bgp.peers.p1.password"] = "bgp-s3cret"
    guest = {"user.user-data": "#cloud-config\npassword: us3r-data-s3cret",
             "user.vendor-data": "v3ndor-s3cret", "environment.DB_PASSWORD": "env-s3cret"}
    if "cloud_init" in extensions:
        guest["cloud-init.user-data"] = "#cloud-config\npassword: cloud-init-s3cret"
    for key, value in guest.items():
        daemon.lxc("profile", "set", "default", key, value.replace("s3cret", "pr0file"))
        secrets[f"profile {key}"] = value.replace("s3cret", "pr0file")
    daemon.lxc("profile", "set", "default", "limits.cpu", "2")
    daemon.lxc("storage", "create", "default", "dir")
    daemon.lxc("profile", "device", "add", "default", "root", "disk", "path=/", "pool=default")
    daemon.lxc("image", "import", str(busybox_image(tmp_path)), "--alias", "busybox")
    daemon.lxc("init", "busybox", "c1", *[arg for key, value in guest.items()
                                          for arg in ("-c", f"{key}={value}")])
    secrets.update({f"instance {key}": value for key, value in guest.items()})
    return secrets


def secret_lines(secrets):
    """Every line of every secret value: a multi-line value is looked for
    line by line (a masked block must not leave one behind)."""
    return {line for value in secrets.values() for line in value.splitlines()
            if "s3cret" in line or "pr0file" in line}


def test_no_secret_of_any_kind_reaches_the_archive(bundle, lxd_daemon, tmp_path,
                                                   buginfo_on_path):
    secrets = configure_every_secret(lxd_daemon, tmp_path)
    # the snap's lxd.buginfo prints the daemon's YAML as these do
    # (canonical/lxd-pkg-snap snapcraft/commands/buginfo, branch 5.0-edge)
    client = f"{lxd_daemon.kind['dir_variable']}={lxd_daemon.root} {lxd_daemon.kind['client']}"
    buginfo_on_path(f"{client} info\n{client} list --format=yaml\n"
                    f"{client} profile show default")

    result, members = bundle()

    if lxd_daemon.backend == "lxd":
        assert "buginfo.txt" in members, result["skipped"]
        assert b"expanded_config:" in members["buginfo.txt"]
    for name, content in members.items():
        for line in secret_lines(secrets):
            assert line.encode() not in content, f"{line!r} is in {name}"
    # what is not secret stays
    server = json.loads(members["lxd/server.json"])["config"]
    assert server["core.proxy_https"] == "http://salt:********@proxy.lan:3128"
    assert all(server[key] == "********" for key in secrets if key in server
               and key != "core.proxy_https")
    profile = json.loads(members["lxd/profiles.json"])["default"]["config"]
    assert profile["limits.cpu"] == "2" and profile["environment.DB_PASSWORD"] == "********"
    if "bgp.peers.p1.password" in secrets:
        network = next(net for net in json.loads(members["lxd/networks.json"]).values()
                       if "bgp.peers.p1.asn" in net["config"])
        assert network["config"]["bgp.peers.p1.asn"] == "65001"
        assert network["config"]["bgp.peers.p1.password"] == "********"


@pytest.fixture
def buginfo_on_path(tmp_path, monkeypatch):
    """Put an `lxd.buginfo` running the shell `script` first on PATH."""

    def install(script):
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        program = bin_dir / "lxd.buginfo"
        program.write_text(f"#!/bin/sh\n{script}\n")
        program.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")

    return install


@pytest.mark.backends("lxd")
def test_buginfo_on_path_is_used(bundle, lxd_daemon, buginfo_on_path):
    buginfo_on_path("echo 'buginfo-marker: LXD bug report'")

    result, members = bundle()

    assert members["buginfo.txt"] == b"buginfo-marker: LXD bug report\n"
    assert "buginfo.txt" not in result["skipped"]
    # the API facts are collected as well
    assert "lxd/server.json" in members


@pytest.mark.backends("lxd")
def test_failing_buginfo_is_skipped_with_its_error(bundle, lxd_daemon, buginfo_on_path):
    buginfo_on_path("echo 'cannot reach the daemon' >&2; exit 3")

    result, members = bundle()

    assert "cannot reach the daemon" in result["skipped"]["buginfo.txt"]
    assert "buginfo.txt" not in members


def test_unreadable_log_is_skipped_not_fatal(bundle, lxd_daemon):
    # a directory where the log file should be: reading it fails
    log = f"{lxd_daemon.root}/logs/{lxd_daemon.kind['log_name']}"
    Path(log).mkdir(parents=True)
    result, members = bundle()
    assert "Is a directory" in result["skipped"][f"logs{log}"]
    assert f"logs{lxd_daemon.root}/daemon.log" in members
    assert "lxd/server.json" in members


def test_stopped_daemon_still_gives_its_log_and_the_host(bundle, loaders, tmp_path):
    daemon_dir = tmp_path / "lxd"
    (daemon_dir / "logs").mkdir(parents=True)
    (daemon_dir / "logs" / "lxd.log").write_text("level=error msg=\"last words\"\n")
    use_settings(loaders, {"connection": {"socket": str(daemon_dir / "unix.socket")}})

    result, members = bundle()

    assert members[f"logs{daemon_dir}/logs/lxd.log"] == b"level=error msg=\"last words\"\n"
    assert "host/uname.txt" in members
    assert "not reachable" in result["skipped"]["lxd/server.json"]
    assert not [name for name in members if name.startswith("lxd/")]


def test_masterless_push_is_refused_with_the_reason(bundle, lxd_daemon):
    result, members = bundle(push=True)
    assert result["pushed"] is False
    assert "masterless" in result["push_error"]
    assert "lxd/server.json" in members
