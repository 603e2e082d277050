"""The sandbox on hosts (``sandbox.py up --hosts``): slower, truer. Each host
is a Debian 12 system container with systemd, its own network namespace and
a static address on a bridge of its own subnet (10.214.0.0/24), on an outer
LXD daemon; salt-minion runs inside as a service, the formula installs
Debian's LXD package from nothing and forms the cluster over the bridge.
The hosts are the test suite's (test/support/hostlab.py: the image built by
mmdebstrap and cached by content)."""

import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

from sandbox.sandbox import VENV_BIN, Sandbox, alive, say, stop_processes, unmount_under
from test.support.hostlab import Outer, TestHost
from test.support.images import busybox_image

NET = "10.214.0"
BRIDGE = "lxdsandbox0"
# the bridge every member's containers get: cluster-wide, as LXD keeps it
CONTAINER_NET = "10.64.0"


class HostsSandbox(Sandbox):
    """A salt-master on the outer bridge and ``size`` hosts ``<prefix>-N`` at
    10.214.0.(10 + N), each installing LXD through the formula."""

    def __init__(self, root, size=3, port=14505, prefix="host", cluster="sandbox"):
        super().__init__(root, size=0, port=port, cluster=cluster)
        self.names = [f"{prefix}-{n}" for n in range(1, size + 1)]
        # where the outer daemon runs (its LXD_DIR), while it does
        self.outer_record = self.root / "outer"

    def outer(self):
        """The running outer daemon, or a new one (its directory recorded)."""
        outer = Outer(net=NET, bridge=BRIDGE)
        if self.outer_record.exists():
            shutil.rmtree(outer.root)
            outer.root = Path(self.outer_record.read_text())
            outer.env[outer.kind["dir_variable"]] = str(outer.root)
            return outer
        outer.start().prepare()
        self.outer_record.write_text(str(outer.root))
        return outer

    def write_salt_config(self):
        # a host's apt run (LXD's packages) outlasts the default 5 s
        self.write_master_config(interface=f"{NET}.1", pki_dir=str(self.master_dir / "pki"),
                                 auto_accept=False, gather_job_timeout=30)

    def write_pillar(self):
        pillar_dir = self.root / "pillar"
        pillar_dir.mkdir(parents=True, exist_ok=True)
        for number, name in enumerate(self.names, start=11):
            lxd = {
                "mode": "cluster",
                "install": {"method": "package"},
                "addresses": {"cluster": f"{NET}.{number}"},
                "cluster": {"name": self.cluster},
                "init": {"network": {"ipv4.address": f"{CONTAINER_NET}.1/24",
                                     "ipv4.nat": "true", "ipv6.address": "none"}},
            }
            (pillar_dir / f"{name}.sls").write_text(json.dumps({"lxd": lxd}, indent=2))
        top = {"base": {name: [name] for name in self.names}}
        (pillar_dir / "top.sls").write_text(json.dumps(top, indent=2))

    def up(self):
        self.root.mkdir(parents=True, exist_ok=True)
        outer = self.outer()
        self.write_salt_config()
        self.write_pillar()
        if not alive(self.master_dir / "salt-master.pid"):
            self.start_salt()
        master = SimpleNamespace(config={"ret_port": self.port + 1,
                                         "publish_port": self.port,
                                         "pki_dir": str(self.master_dir / "pki")})
        running = json.loads(outer.lxc("list", "--format=json") or "[]")
        for number, name in enumerate(self.names, start=11):
            if name not in [instance["name"] for instance in running]:
                TestHost(outer, name, f"{NET}.{number}").create(master)
        self.wait_for_minions(self.names, timeout=300)
        self.salt("*", "saltutil.sync_all", capture=True)
        self.salt_run("saltutil.sync_all", capture=True)
        return outer

    def start_salt(self):
        subprocess.run([str(VENV_BIN / "salt-master"), "-c", str(self.master_dir), "-d"],
                       check=True)

    def down(self):
        if not self.root.exists():
            return
        stop_processes([self.master_dir / "salt-master.pid"])
        if self.outer_record.exists():
            outer = self.outer()
            for instance in json.loads(outer.lxc("list", "--format=json", check=False) or "[]"):
                outer.lxc("delete", "--force", instance["name"], check=False)
            # its bridge (and NAT rules) outlive the daemon: removed while it runs
            outer.lxc("network", "delete", BRIDGE, check=False)
            outer.admin("shutdown", "--timeout", "60", check=False)
            outer.stop()
        unmount_under(self.root)
        shutil.rmtree(self.root, ignore_errors=True)

    def demo(self):
        say(f"hosts {', '.join(self.names)}: Debian 12 with systemd on {NET}.0/24, "
            f"nothing installed; salt-master on {NET}.1, in {self.root}")
        outer = self.up()
        say("salt-run state.orchestrate lxd.cluster   (LXD installed from nothing, "
            "then the cluster formed over the hosts' network)")
        self.salt_run("state.orchestrate", "lxd.cluster", "--state-output=terse")
        first, last = self.names[0], self.names[-1]

        def inside(*command, check=True):
            return outer.lxc("exec", first, "--", *command, check=check)

        say(f"lxc cluster list   (inside {first})")
        print(inside("lxc", "cluster", "list"))
        instances = json.loads(inside("lxc", "query", "/1.0/instances") or "[]")
        if "/1.0/instances/demo" not in instances:
            say(f"a busybox container on {last}, with an address from {last}'s bridge")
            outer.lxc("file", "push", str(busybox_image(self.root)),
                      f"{first}/root/busybox.tar.gz")
            inside("lxc", "image", "import", "/root/busybox.tar.gz", "--alias", "busybox")
            inside("lxc", "launch", "busybox", "demo", "--target", last)
            inside("lxc", "exec", "demo", "--", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "10",
                   "-s", "/bin/dhcp-lease")
        print(inside("lxc", "list", "--columns=ns4L"))
        say("run it again: a second apply reports no changes")
        self.salt("*", "state.apply", "lxd", "--state-output=terse", "--state-verbose=false")
        say("try:")
        print(f"  LXD_DIR={outer.root} lxc exec {first} -- lxc exec demo -- ip addr\n"
              f"  {VENV_BIN}/salt -c {self.master_dir} '*' lxd_cluster.status\n"
              f"  bash sandbox/sandbox.sh down   (stop everything, remove {self.root})")
