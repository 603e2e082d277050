"""The hosts tier's machinery (its fixtures are in test/hosts/conftest.py;
sandbox/hosts.py runs the same hosts): each
simulated host is a machine as far as Salt and LXD can tell. Debian 12
system containers with systemd as PID 1, their own network namespace and a
static address on a test bridge (a fixed subnet, TEST_NET below), started
on an outer LXD daemon that the fixtures run. Inside each host,
salt-minion runs as a systemd service (the repository's venv, mounted
read-only) against a real salt-master on the machine, and the formula
installs LXD or Incus from the distribution's packages, through the
bridge's NAT to the same mirror the machine uses.

The host image is built by mmdebstrap from Debian's packages and cached by
content (``HOSTS_CACHE``, default ~/.cache/lxd-formula): a re-run does not
rebuild it.
"""

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import salt.crypt
import yaml

from test.support.daemons import Daemon

# The outer bridge: fixed and explicit (never "auto", which makes LXD probe
# for a free private subnet). LXD_TEST_HOSTS_NET moves it (e.g. 10.212.0),
# LXD_TEST_HOSTS_BRIDGE renames it (two runs on one machine).
TEST_NET = os.environ.get("LXD_TEST_HOSTS_NET", "10.211.0")
OUTER_BRIDGE = os.environ.get("LXD_TEST_HOSTS_BRIDGE", "lxdtesthosts0")
CACHE = Path(os.environ.get("HOSTS_CACHE", Path.home() / ".cache" / "lxd-formula"))
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
# Debian 13 (Incus 7.0 from its backports): its systemd 257 refuses a cgroup
# v1 machine unless PID 1 is told otherwise, and in a container systemd
# reads its own argv, not the kernel's command line
TRIXIE = "trixie"
SUITE_CONFIG = {
    TRIXIE: {"raw.lxc": "lxc.init.cmd = /sbin/init SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1 "
                        "systemd.unified_cgroup_hierarchy=0"},
}
VENV = Path(sys.prefix)
PYTHON_HOME = Path(sys.base_prefix)
# a Debian python3 venv needs the distribution's python3.11; a venv over
# another build (pyenv) gets its home mounted, read-only, at the same path
DEBIAN_PYTHON = Path("/usr") == PYTHON_HOME

IMAGE_PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "iproute2", "ifupdown", "iputils-ping",
    "ca-certificates", "netbase", "procps", "kmod", "apt-utils",
] + (["python3"] if DEBIAN_PYTHON else [])
# what the mounted Python (ctypes) needs that a suite's minbase lacks
SUITE_PACKAGES = {TRIXIE: ["libffi8"]}

# What a host container needs beyond Debian's packages, written into the
# image (mmdebstrap --customize-hook, "$1" is the root).
CGROUP_FIX = r"""#!/bin/sh
# The outer LXD runs on a machine without systemd whose cgroup v1
# controllers cpu and cpuacct are mounted apart; liblxc gives its containers
# both as links to a "cpu,cpuacct" hierarchy it never mounts, and the LXD
# inside then cannot start containers ("Failed to open 6/cpuacct"). When a
# controller this container's cgroups name is not mounted, mount every
# hierarchy afresh on a new /sys/fs/cgroup (the one liblxc made cannot
# always be remounted writable: its flags may be locked). On a machine
# that needs none of this, it changes nothing.
set -eu
missing=""
for controller in $(cut -d: -f2 /proc/self/cgroup | tr , ' '); do
    case $controller in name=*|"") continue ;; esac
    mountpoint -q "/sys/fs/cgroup/$controller" || missing="$missing $controller"
done
[ -n "$missing" ] || exit 0
mount -t tmpfs -o mode=755,nosuid,nodev,noexec cgroup /sys/fs/cgroup
cd /sys/fs/cgroup
while IFS=: read -r _ controllers _; do
    case $controllers in
        "") directory=unified type=cgroup2 options=nsdelegate ;;
        name=*) directory=${controllers#name=} type=cgroup options=none,$controllers ;;
        *) directory=$controllers type=cgroup options=$controllers ;;
    esac
    mkdir "$directory"
    mount -t "$type" -o "$options" cgroup "$directory"
done < /proc/self/cgroup
"""

CGROUP_UNIT = """[Unit]
Description=Mount the cgroup v1 controllers the outer LXD left out (test hosts)
DefaultDependencies=no
After=local-fs.target
Before=lxd.socket lxd.service incus.socket incus.service sysinit.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/lxd-test-cgroups
RemainAfterExit=yes

[Install]
WantedBy=sysinit.target
"""

MINION_UNIT = """[Unit]
Description=salt-minion (the repository's venv, mounted read-only)
After=network-online.target
Wants=network-online.target

[Service]
ExecStart={venv}/bin/salt-minion -c /etc/salt
KillMode=process
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""

def customize(suite):
    """The image's customize hooks for Debian ``suite``."""
    return CUSTOMIZE + [
        # nothing of the machine's apt proxy or sources: the host's own
        'printf "deb %s %s main\\ndeb %s %s-updates main\\n" '
        f'{MIRROR} {suite} {MIRROR} {suite} > "$1/etc/apt/sources.list"',
    ]


CUSTOMIZE = [
    # nested unprivileged containers: the host has 200000 ids (see HOST_CONFIG)
    'echo root:100000:65536 > "$1/etc/subuid"',
    'echo root:100000:65536 > "$1/etc/subgid"',
    f"cat > \"$1/usr/local/sbin/lxd-test-cgroups\" <<'EOF'\n{CGROUP_FIX}EOF",
    'chmod 755 "$1/usr/local/sbin/lxd-test-cgroups"',
    f"cat > \"$1/etc/systemd/system/lxd-test-cgroups.service\" <<'EOF'\n{CGROUP_UNIT}EOF",
    'ln -s /etc/systemd/system/lxd-test-cgroups.service '
    '"$1/etc/systemd/system/sysinit.target.wants/lxd-test-cgroups.service"',
    # the minion's unit is pushed per host (it names the venv)
    'ln -s /etc/systemd/system/salt-minion.service '
    '"$1/etc/systemd/system/multi-user.target.wants/salt-minion.service"',
    'mkdir -p "$1/etc/salt/pki/minion"',
]

# The outer container of a host: nesting for the LXD inside, an isolated
# idmap big enough for its own unprivileged containers (root:100000:65536
# in the image's subuid).
HOST_CONFIG = {
    "security.nesting": "true",
    "security.idmap.isolated": "true",
    "security.idmap.size": "200000",
}


def host_image(suite=SUITE):
    """The host image of Debian ``suite`` (split: metadata and rootfs
    tarballs), built once per recipe: the cache key is a hash of everything
    that goes into it."""
    hooks = customize(suite)
    packages = IMAGE_PACKAGES + SUITE_PACKAGES.get(suite, [])
    recipe = json.dumps({"suite": suite, "mirror": MIRROR, "packages": packages,
                         "customize": hooks}, sort_keys=True)
    key = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    directory = CACHE / f"host-image-{key}"
    rootfs, metadata = directory / "rootfs.tar", directory / "metadata.tar"
    if rootfs.exists() and metadata.exists():
        return metadata, rootfs
    CACHE.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix="building-", dir=CACHE))
    try:
        subprocess.run(
            ["mmdebstrap", "--quiet", "--variant=minbase", "--include=" + ",".join(packages),
             *[f"--customize-hook={hook}" for hook in hooks], suite,
             str(building / "rootfs.tar"), MIRROR],
            check=True,
        )
        meta = yaml.safe_dump({
            "architecture": os.uname().machine,
            "creation_date": int(time.time()),
            "properties": {"os": "debian", "release": suite,
                           "description": f"lxd-formula test host {key}"},
        }).encode()
        with tarfile.open(building / "metadata.tar", "w") as tar:
            info = tarfile.TarInfo("metadata.yaml")
            info.size = len(meta)
            tar.addfile(info, io.BytesIO(meta))
        shutil.rmtree(directory, ignore_errors=True)
        building.rename(directory)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return metadata, rootfs


class Outer(Daemon):
    """The outer LXD daemon: a dir pool and the hosts' bridge ``bridge`` on
    ``<net>.0/24`` (the gateway at .1), NATed to the machine's network (a
    fixed subnet, no DHCP: hosts have static addresses)."""

    def __init__(self, net=TEST_NET, bridge=OUTER_BRIDGE):
        super().__init__(address=None, backend="lxd")
        self.net = net
        self.gateway = f"{net}.1"
        self.host_bridge = bridge

    def prepare(self):
        self.lxc("storage", "create", "default", "dir")
        self.lxc("profile", "device", "add", "default", "root", "disk", "path=/",
                 "pool=default")
        self.lxc("network", "create", self.host_bridge, f"ipv4.address={self.gateway}/24",
                 "ipv4.nat=true", "ipv4.dhcp=false", "ipv6.address=none", "dns.mode=none")
        return self

    def image(self, suite):
        """The alias of the host image of ``suite``, imported on first use
        (the daemon is asked: the sandbox reattaches to a running one)."""
        alias = f"host-{suite}"
        if f"/1.0/images/aliases/{alias}" not in json.loads(
                self.lxc("query", "/1.0/images/aliases")):
            metadata, rootfs = host_image(suite)
            self.lxc("image", "import", str(metadata), str(rootfs), "--alias", alias)
        return alias


class TestHost:
    """One host: an outer container running systemd, salt-minion and,
    once the formula installed it, LXD."""

    def __init__(self, outer, name, address, suite=SUITE):
        self.outer = outer
        self.name = name
        self.address = address
        self.suite = suite

    def create(self, master):
        """Create and start the host, its minion a client of ``master`` (its
        ``config``: ret_port, publish_port, pki_dir, where its key is
        accepted)."""
        settings = {**HOST_CONFIG, **SUITE_CONFIG.get(self.suite, {})}
        config = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        self.outer.lxc("init", self.outer.image(self.suite), self.name, *config)
        self.outer.lxc("config", "device", "add", self.name, "eth0", "nic",
                       f"network={self.outer.host_bridge}", "name=eth0")
        # snapd mounts snaps with squashfuse inside a container
        self.outer.lxc("config", "device", "add", self.name, "fuse", "unix-char",
                       "source=/dev/fuse", "path=/dev/fuse")
        mounts = [VENV] + ([] if DEBIAN_PYTHON else [PYTHON_HOME])
        for index, path in enumerate(mounts):
            self.outer.lxc("config", "device", "add", self.name, f"python{index}", "disk",
                           f"source={path}", f"path={path}", "readonly=true")
        self.push("/etc/network/interfaces", (
            "auto lo\niface lo inet loopback\n\n"
            f"auto eth0\niface eth0 inet static\n    address {self.address}/24\n"
            f"    gateway {self.outer.gateway}\n"))
        self.push("/etc/resolv.conf", Path("/etc/resolv.conf").read_text())
        self.push("/etc/systemd/system/salt-minion.service", MINION_UNIT.format(venv=VENV))
        self.push("/etc/salt/minion", yaml.safe_dump({
            "id": self.name,
            "master": self.outer.gateway,
            "master_port": master.config["ret_port"],
            "publish_port": master.config["publish_port"],
            "log_level_logfile": "info",
            "acceptance_wait_time": 1,
            "random_reauth_delay": 0,
        }))
        private, public = salt.crypt.gen_keys(2048)
        self.push("/etc/salt/pki/minion/minion.pem", private, mode="0400")
        self.push("/etc/salt/pki/minion/minion.pub", public)
        accepted = Path(master.config["pki_dir"]) / "minions" / self.name
        accepted.parent.mkdir(parents=True, exist_ok=True)
        accepted.write_text(public)
        self.outer.lxc("start", self.name)

    def push(self, path, text, mode="0644"):
        with tempfile.NamedTemporaryFile("w") as handle:
            handle.write(text)
            handle.flush()
            self.outer.lxc("file", "push", handle.name, f"{self.name}{path}",
                           "--create-dirs", f"--mode={mode}")

    def run(self, *command, check=True, timeout=300):
        """A command inside the host, as root; its completed process."""
        result = subprocess.run(
            [self.outer.kind["client"], "exec", self.name, "--", *command],
            env=self.outer.env, capture_output=True, text=True, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{self.name}: {' '.join(command)}: {result.stderr}")
        return result

    def restart(self):
        self.outer.lxc("restart", self.name, "--timeout", "60")

    def stop(self):
        self.outer.lxc("stop", self.name, "--force", check=False)
        self.outer.lxc("delete", self.name, "--force", check=False)


class Hosts:
    """The operator's view of the hosts tier: a salt-master on the outer
    bridge, hosts added on demand, pillar per host, salt and salt-run."""

    def __init__(self, master, outer, pillar_dir, events, suite=SUITE):
        self.suite = suite
        self.master = master
        self.events = events
        self.outer = outer
        self.pillar_dir = pillar_dir
        self.salt = master.salt_cli(timeout=900)
        self.run = master.salt_run_cli(timeout=1800)
        self.hosts = {}
        self.pillars = {}

    def add(self, name, number, **lxd):
        """Start host ``name`` at <net>.<number> with pillar ``lxd``; wait
        until its minion answers and has the formula's modules."""
        host = TestHost(self.outer, name, f"{self.outer.net}.{number}", self.suite)
        self.hosts[name] = host
        self.set_pillar(name, **lxd)
        since = time.time()
        host.create(self.master)
        self.wait_for_minion(name, since)
        synced = self.salt.run("saltutil.sync_all", minion_tgt=name)
        assert synced.returncode == 0, synced
        return host

    def wait_for_minion(self, name, since, timeout=180):
        """Wait for the start event of ``name``'s minion, fired after
        ``since`` (a time.time()). Salt 3008's request client was once seen
        (in CI, 1 host in ~30) timing out on every request to a master that
        answered the other hosts, for minutes: a minion silent after half
        the bound is restarted once, with what the host saw printed."""
        for attempt, bound in enumerate((timeout / 2, timeout / 2)):
            started = self.events.wait_for_events(
                [(self.master.id, f"salt/minion/{name}/start")], timeout=bound,
                after_time=since)
            if started.found_all_events:
                return
            report = self.minion_report(name)
            if attempt == 0:
                print(f"hosts: the minion of {name} did not start within {bound:.0f}s, "
                      f"restarting it once:\n{report}")
                since = time.time()
                self.hosts[name].run("systemctl", "restart", "salt-minion")
        raise AssertionError(f"the minion of {name} did not start within {timeout}s "
                             f"(restarted once):\n{report}")

    def minion_report(self, name):
        """What host ``name`` sees of its network, the master's port and its
        minion's log."""
        host = self.hosts[name]
        port = self.master.config["ret_port"]
        probe = (f"timeout 5 bash -c '</dev/tcp/{self.outer.gateway}/{port}' "
                 f"&& echo 'master port {port}: open' || echo 'master port {port}: closed'")
        outputs = [host.run("ip", "-4", "-br", "addr", check=False).stdout,
                   host.run("bash", "-c", probe, check=False).stdout,
                   host.run("journalctl", "-u", "salt-minion", "--no-pager", "-n", "25",
                            check=False).stdout]
        return "\n".join(output.strip()[-3000:] for output in outputs)

    def restart(self, name):
        """Reboot host ``name``; return when its minion is back."""
        since = time.time()
        self.hosts[name].restart()
        self.wait_for_minion(name, since)

    def set_pillar(self, name, **lxd):
        self.pillars[name] = lxd
        (self.pillar_dir / f"{name}.sls").write_text(yaml.safe_dump({"lxd": lxd}))
        top = {"base": {host: [host] for host in self.pillars}}
        (self.pillar_dir / "top.sls").write_text(yaml.safe_dump(top))
        if name in self.hosts and name in self.master_minions():
            refreshed = self.salt.run("saltutil.refresh_pillar", "wait=True", minion_tgt=name)
            assert refreshed.returncode == 0, refreshed

    def master_minions(self):
        return [path.name for path in (Path(self.master.config["pki_dir"]) / "minions").iterdir()]

    def apply(self, name, *args):
        result = self.salt.run("state.apply", "lxd", *args, minion_tgt=name)
        assert isinstance(result.data, dict), result
        return result

    def lxc(self, name, *args, check=True):
        """The daemon's own client inside host ``name`` (its pillar's
        backend: ``lxc`` or ``incus``)."""
        client = "incus" if self.pillars[name].get("backend") == "incus" else "lxc"
        return self.hosts[name].run(client, *args, check=check)

    def query(self, name, path):
        return json.loads(self.lxc(name, "query", path).stdout)

    def teardown(self):
        if os.environ.get("HOSTS_KEEP"):
            return  # for a look after a failure (see docs/development.rst: the hosts tier)
        for host in self.hosts.values():
            host.stop()


def orchestrate(hosts, *args):
    """salt-run state.orchestrate lxd.cluster: the run and its steps."""
    result = hosts.run.run("state.orchestrate", "lxd.cluster", *args)
    assert isinstance(result.data, dict), result
    return result, list(result.data["data"].values())[0]


def failed(steps):
    return {key: step["comment"] for key, step in steps.items() if step["result"] is False}


def by_id(states):
    return {state["__id__"]: state for state in states.values()}


def changed(applied):
    """Per minion, the states of a state.apply that changed something."""
    return {minion: {key: step for key, step in states.items() if step["changes"]}
            for minion, states in applied.data.items()}


def members(hosts, via="node-1"):
    return {member["server_name"]: (member["status"], member["url"])
            for member in hosts.query(via, "/1.0/cluster/members?recursion=1")}
