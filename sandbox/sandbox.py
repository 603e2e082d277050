"""A local sandbox of LXD hosts run by Salt, all under one directory.

Each simulated host is a real LXD (or Incus, ``--backend incus``) daemon
(its own LXD_DIR / INCUS_DIR, its own loopback address) driven by a real
salt-minion; one real salt-master serves the formula. Nothing outside the
sandbox directory is written: the pillar keeps the host's kernel settings
and network interfaces alone.

    python -m sandbox.sandbox up [--size 3] [--backend incus]   start everything, then the main job
    python -m sandbox.sandbox up --hosts                        the same on systemd hosts (hosts.py)
    python -m sandbox.sandbox down                              stop everything, remove the directory

(from the repository root, as sandbox.sh runs it: the hosts and images are
the test suite's, from test.support).

The benchmark (sandbox/benchmark.py) builds its sandboxes with this module.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from test.support.daemons import Daemon
from test.support.images import busybox_image
from test.support.pillars import simulated_member
from test.support.waiting import wait_until

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
FORMULA_PARTS = ("lxd", "_modules", "_states", "_runners", "_utils", "reactor")
# unix socket paths are limited to 108 bytes
MAX_SOCKET_PATH = 107


def say(message):
    print(f"== {message}", flush=True)


def alive(pid_file):
    """The pid in ``pid_file`` when that process runs, else None. A child of
    this process that exited (a daemon this script started) is reaped here:
    a zombie still answers kill(0)."""
    try:
        pid = int(Path(pid_file).read_text())
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return None
    except ChildProcessError:
        pass  # not our child: its parent reaps it
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid


def stop_processes(pid_files, sig=signal.SIGTERM, timeout=30):
    """Signal every process at once, then wait for all (SIGKILL at the end)."""
    running = {pid_file: alive(pid_file) for pid_file in pid_files}
    running = {pid_file: pid for pid_file, pid in running.items() if pid}
    for pid in running.values():
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while any(alive(pid_file) for pid_file in running) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid_file, pid in running.items():
        if alive(pid_file):
            os.kill(pid, signal.SIGKILL)


def unmount_under(path):
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    for point in sorted(points, reverse=True):
        if point.startswith(f"{path}/"):
            subprocess.run(["umount", "-l", point], check=False)


# How each backend's daemon is run and driven (the daemon, its admin
# commands, its client, the variable naming its directory): as the tests run it.
BACKENDS = Daemon.KINDS


class LXDHost:
    """One LXD (or Incus) daemon standing in for one host."""

    def __init__(self, root, name, address, debug=False, backend="lxd"):
        self.root = Path(root)
        self.name = name
        self.address = address
        self.debug = debug
        self.backend = backend
        self.tools = BACKENDS[backend]
        self.env = dict(os.environ, **{self.tools["dir_variable"]: str(self.root)})
        if len(self.socket) > MAX_SOCKET_PATH:
            raise SystemExit(f"{self.socket}: too long for a unix socket; use a shorter --root")

    @property
    def socket(self):
        return str(self.root / "unix.socket")

    @property
    def log(self):
        return self.root / "daemon.log"

    @property
    def pid_file(self):
        return self.root / "lxd.pid"

    def start(self):
        """Start the daemon unless it runs; returns without waiting (see ready)."""
        if alive(self.pid_file):
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        command = [*self.tools["daemon"], "--group", "root", "--logfile", str(self.log)]
        if self.debug:
            # every API request is logged: the benchmark counts them
            command.append("--debug")
        with open(self.root / "lxd.out", "ab") as out:
            process = subprocess.Popen(command, env=self.env, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.pid_file.write_text(str(process.pid))
        return self

    def ready(self):
        subprocess.run([*self.tools["admin"], "waitready", "--timeout", "60"], env=self.env,
                       check=True)

    def lxc(self, *args, capture=False, check=True):
        """The backend's client: ``lxc`` or ``incus``."""
        return subprocess.run([self.tools["client"], *args], env=self.env, check=check,
                              text=True, capture_output=capture)

    def shell_hint(self):
        """How an operator points the client at this daemon."""
        return f"export {self.tools['dir_variable']}={self.root}; {self.tools['client']}"

    def query(self, path):
        return json.loads(self.lxc("query", path, capture=True).stdout)

    def stop(self):
        """Kill the daemon (a clustered daemon's clean shutdown waits on its
        peers), then release what it mounted and remove its directory."""
        stop_processes([self.pid_file], signal.SIGKILL)
        unmount_under(self.root)
        shutil.rmtree(self.root, ignore_errors=True)

    def requests_logged(self):
        """API requests made to this daemon over its unix socket so far (the
        formula's), counted from the debug log."""
        if not self.log.exists():
            return 0
        with open(self.log, errors="replace") as log:
            return sum('msg="Handling API request"' in line and "protocol=unix" in line
                       for line in log)


class Sandbox:
    """A salt-master and ``size`` hosts (salt-minion + LXD daemon) under
    ``root``; hosts ``<prefix>-1``… on ``<subnet>.1``…"""

    def __init__(self, root, size=3, subnet="127.0.10", port=14505, prefix="lxd",
                 cluster="sandbox", debug=False, backend="lxd"):
        self.root = Path(root).resolve()
        self.size = size
        self.port = port
        self.cluster = cluster
        self.backend = backend
        self.hosts = {
            f"{prefix}-{n}": LXDHost(self.root / "lxd" / f"{prefix}-{n}", f"{prefix}-{n}",
                                     f"{subnet}.{n}", debug=debug, backend=backend)
            for n in range(1, size + 1)
        }
        self.master_dir = self.root / "salt" / "master"

    # -- the formula's Salt -------------------------------------------------

    def salt(self, *args, capture=False, check=True):
        return self._cli("salt", *args, capture=capture, check=check)

    def salt_run(self, *args, capture=False, check=True):
        return self._cli("salt-run", *args, capture=capture, check=check)

    def _cli(self, program, *args, capture, check):
        command = [str(VENV_BIN / program), "-c", str(self.master_dir), "--timeout=300",
                   # Salt 3008 warns about its own unclosed clients at exit
                   "--log-level=error", *args]
        env = dict(os.environ, PYTHONWARNINGS="ignore::ResourceWarning")
        return subprocess.run(command, check=check, text=True, capture_output=capture, env=env)

    def write_salt_config(self):
        self.write_master_config()
        for name in self.hosts:
            minion_dir = self.root / "salt" / name
            minion_dir.mkdir(parents=True, exist_ok=True)
            minion = {
                "id": name,
                "root_dir": str(minion_dir),
                "pidfile": "salt-minion.pid",
                "log_file": self.log_file(name),
                "master": "127.0.0.1",
                "master_port": self.port + 1,
                "publish_port": self.port,
            }
            (minion_dir / "minion").write_text(json.dumps(minion, indent=2))

    def write_master_config(self, **settings):
        """The master's configuration (``settings`` override it), serving the
        formula from a directory of links to its parts."""
        formula = self.root / "formula"
        formula.mkdir(parents=True, exist_ok=True)
        for part in FORMULA_PARTS:
            link = formula / part
            if not link.is_symlink():
                link.symlink_to(REPO / part)
        self.master_dir.mkdir(parents=True, exist_ok=True)
        master = {
            "root_dir": str(self.master_dir),
            "pidfile": "salt-master.pid",
            "log_file": self.log_file("master"),
            "interface": "127.0.0.1",
            "publish_port": self.port,
            "ret_port": self.port + 1,
            "auto_accept": True,
            "file_roots": {"base": [str(formula)]},
            "pillar_roots": {"base": [str(self.root / "pillar")]},
            # the formula's reactor: a deleted minion key removes its member
            "reactor": [{"salt/key": ["salt://reactor/key_deleted.sls"]}],
            **settings,
        }
        (self.master_dir / "master").write_text(json.dumps(master, indent=2))
        (self.root / "log").mkdir(exist_ok=True)

    @staticmethod
    def log_file(name):
        """``.sandbox/log/<name>``, relative to the daemon's root_dir
        (``.sandbox/salt/<name>``): Salt puts an absolute path outside
        root_dir under it."""
        return f"../../log/{name}"

    def write_pillar(self):
        """Every host a member of one cluster; the sandbox's own paths."""
        pillar_dir = self.root / "pillar"
        pillar_dir.mkdir(parents=True, exist_ok=True)
        for name, host in self.hosts.items():
            lxd = simulated_member(host, self.root / "files" / name, self.cluster)
            (pillar_dir / f"{name}.sls").write_text(json.dumps({"lxd": lxd}, indent=2))
        top = {"base": {name: [name] for name in self.hosts}}
        (pillar_dir / "top.sls").write_text(json.dumps(top, indent=2))

    def start_salt(self):
        daemons = [("master", self.master_dir)]
        daemons += [("minion", self.root / "salt" / name) for name in self.hosts]
        # as under systemd: a minion keeps the bytecode of the formula's
        # modules, which PYTHONDONTWRITEBYTECODE (set on some CI machines)
        # would have every job compile again
        env = {key: value for key, value in os.environ.items()
               if key != "PYTHONDONTWRITEBYTECODE"}
        for kind, config_dir in daemons:
            if not alive(config_dir / f"salt-{kind}.pid"):
                subprocess.run([str(VENV_BIN / f"salt-{kind}"), "-c", str(config_dir), "-d"],
                               check=True, env=env)

    def wait_for_minions(self, names=None, timeout=120):
        names = names or list(self.hosts)

        def silent():
            pinged = self.salt("--out=json", "--static", "--timeout=5", "*", "test.ping",
                               capture=True, check=False)
            answered = json.loads(pinged.stdout or "{}")
            return sorted(name for name in names if answered.get(name) is not True)

        wait_until(lambda: not silent(), timeout, f"minions {', '.join(names)} to answer")

    def up(self):
        """Start whatever is not running: LXD daemons, master, minions; the
        formula's modules synced."""
        started = self.started_backend()
        if started and started != self.backend:
            raise SystemExit(f"{self.root} runs {started}: run `down` first to switch to "
                             f"{self.backend}")
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "backend").write_text(self.backend)
        for host in self.hosts.values():
            host.start()
        self.write_salt_config()
        self.write_pillar()
        self.start_salt()
        for host in self.hosts.values():
            host.ready()
        self.wait_for_minions()
        self.salt("*", "saltutil.sync_all", capture=True)
        self.salt_run("saltutil.sync_all", capture=True)

    def down(self):
        if not self.root.exists():
            return
        # the hosts as started, whatever size and backend this object was made with
        backend = self.started_backend() or self.backend
        hosts = [LXDHost(path, path.name, None, backend=backend)
                 for path in sorted((self.root / "lxd").glob("*"))]
        first = hosts[0] if hosts else None
        if first and alive(first.pid_file):
            # running containers outlive a killed daemon: stop them first
            for name in self.instances(first):
                first.lxc("stop", "--force", name, check=False)
        stop_processes((self.root / "salt").glob("*/salt-*.pid"))
        for host in hosts:
            host.stop()
        unmount_under(self.root)
        shutil.rmtree(self.root, ignore_errors=True)

    def started_backend(self):
        """The backend the sandbox's daemons were started with, if any."""
        marker = self.root / "backend"
        return marker.read_text().strip() if marker.exists() else None

    @staticmethod
    def instances(host):
        listed = host.lxc("list", "--format=json", capture=True, check=False)
        if listed.returncode != 0:
            return []
        return [instance["name"] for instance in json.loads(listed.stdout)
                if instance["status"] == "Running"]

    # -- the demo -----------------------------------------------------------

    def demo(self):
        names = list(self.hosts)
        kind = "Incus" if self.backend == "incus" else "LXD"
        say(f"{kind} daemons: {', '.join(f'{n} on {h.address}' for n, h in self.hosts.items())}")
        say(f"salt-master and {len(names)} salt-minions in {self.root}")
        self.up()
        say("salt '*' state.apply lxd   (every host installed and tuned)")
        self.salt("*", "state.apply", "lxd", "--state-output=terse", "--state-verbose=false")
        say("salt-run state.orchestrate lxd.cluster   (bootstrap, then each member joins)")
        self.salt_run("state.orchestrate", "lxd.cluster", "--state-output=terse")
        first, last = self.hosts[names[0]], self.hosts[names[-1]]
        say(f"{first.tools['client']} cluster list   "
            f"({first.tools['dir_variable']}={first.root})")
        first.lxc("cluster", "list")
        if "demo" not in [i["name"] for i in first.query("/1.0/instances?recursion=1")]:
            say(f"a busybox container on {last.name}")
            first.lxc("image", "import", str(busybox_image(self.root)), "--alias", "busybox",
                      "--quiet")
            first.lxc("launch", "busybox", "demo", "--target", last.name, "--quiet")
        first.lxc("list", "--columns=nsL")
        say("run it again: a second apply reports no changes")
        self.salt("*", "state.apply", "lxd", "--state-output=terse", "--state-verbose=false")
        say("try:")
        print(f"  {first.shell_hint()} exec demo -- uname -a\n"
              f"  {VENV_BIN}/salt -c {self.master_dir} '*' lxd_cluster.status\n"
              f"  bash sandbox/sandbox.sh down   (stop everything, remove {self.root})")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--root", default=str(REPO / ".sandbox"))
    parser.add_argument("--size", type=int, default=3)
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="lxd",
                        help="the daemon every host runs (default: lxd)")
    parser.add_argument("--hosts", action="store_true",
                        help="hosts that are systemd machines with their own network, LXD "
                             "installed from nothing (slower, truer; LXD only)")
    args = parser.parse_args()
    if args.hosts or (Path(args.root) / "outer").exists():
        from sandbox.hosts import HostsSandbox  # imports the test suite's host machinery
        sandbox = HostsSandbox(args.root, size=args.size)
    else:
        sandbox = Sandbox(args.root, size=args.size, backend=args.backend)
    if args.action == "up":
        sandbox.demo()
    else:
        sandbox.down()
        say(f"sandbox stopped, {sandbox.root} removed")


if __name__ == "__main__":
    sys.exit(main())
