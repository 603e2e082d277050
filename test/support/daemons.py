"""A real daemon standing in for a host: LXD or Incus, started by the tests
(shared by every tier: the hosts tier runs its outer LXD with it)."""

import functools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from _utils.lxd_backends import BACKENDS


class Daemon:
    """One daemon standing in for one host: LXD (``lxd --group root``) or
    Incus (``incusd --group root``), with its own directory (LXD_DIR /
    INCUS_DIR) and its own loopback address (used once it listens on the
    network). ``lxc`` runs the backend's client (``lxc`` or ``incus``)."""

    # how each backend's daemon is run and driven, as the formula knows it
    KINDS = BACKENDS

    def __init__(self, address, backend="lxd"):
        self.backend = backend
        self.kind = self.KINDS[backend]
        # unix socket paths are limited to 108 bytes: keep the directory short
        self.root = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir="/tmp"))
        self.address = address
        self.bridge = self.kind["bridge"]
        self.env = dict(os.environ, **{self.kind["dir_variable"]: str(self.root)})
        self.process = None

    @property
    def socket(self):
        return str(self.root / "unix.socket")

    def start(self):
        # the daemon keeps its own copy of the descriptor
        with open(self.root / "daemon.out", "wb") as log:
            self.process = subprocess.Popen(
                [*self.kind["daemon"], "--group", "root",
                 "--logfile", str(self.root / "daemon.log")],
                env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        self.admin("waitready", "--timeout", "60")
        return self

    @functools.cached_property
    def secret_key(self):
        """A server key whose value is secret, to prove it is masked: Loki's
        password where the daemon has the API extension ``loki`` (Incus,
        LXD >= 5.21), else the trust password (LXD 5.0; LXD 6.1 dropped
        it)."""
        extensions = self.query("/1.0")["api_extensions"]
        return "loki.auth.password" if "loki" in extensions else "core.trust_password"

    def admin(self, *args, check=True):
        """``lxd <args>`` or ``incus admin <args>``."""
        return subprocess.run([*self.kind["admin"], *args], env=self.env, check=check)

    def lxc(self, *args, check=True):
        result = subprocess.run(
            [self.kind["client"], *args], env=self.env, capture_output=True, text=True
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{self.kind['client']} {' '.join(args)}: {result.stderr}")
        return result.stdout

    def trust_certificate(self, path):
        """Trust a client certificate file, as an operator does by hand."""
        verb = "add" if self.backend == "lxd" else "add-certificate"
        return self.lxc("config", "trust", verb, str(path))

    def trust_token(self, name):
        """Issue a trust token for a client ``name``; return it."""
        args = ["--name", name] if self.backend == "lxd" else [name]
        return self.lxc("config", "trust", "add", *args).strip().splitlines()[-1]

    def query(self, path):
        """The metadata at ``path``; a listing is a list even where Incus
        answers an empty one with nothing."""
        answer = self.lxc("query", path).strip()
        if not answer and "recursion=" in path:
            return []
        return json.loads(answer)

    def snapshot(self):
        """Everything init could have touched, to prove a run changed nothing."""
        return {
            "config": self.query("/1.0")["config"],
            "pools": self.query("/1.0/storage-pools?recursion=1"),
            "networks": [
                n for n in self.query("/1.0/networks?recursion=1") if n["managed"]
            ],
            "profiles": self.query("/1.0/profiles?recursion=1"),
        }

    def stop(self):
        if self.process and self.process.poll() is None:
            # bridges outlive the daemon: remove them while it can
            for network in self.query("/1.0/networks?recursion=1"):
                if network["managed"]:
                    self.lxc("profile", "device", "remove", "default", "eth0", check=False)
                    self.lxc("network", "delete", network["name"], check=False)
            self.admin("shutdown", "--timeout", "60", check=False)
            self.process.wait(timeout=60)
        self._unmount()
        shutil.rmtree(self.root, ignore_errors=True)

    def kill(self):
        """For cluster members: a graceful shutdown waits on its peers."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=60)
        self._unmount()
        shutil.rmtree(self.root, ignore_errors=True)

    def _unmount(self):
        with open("/proc/mounts") as mounts:
            points = [line.split()[1] for line in mounts]
        for point in sorted(points, reverse=True):
            if point.startswith(str(self.root)):
                subprocess.run(["umount", "-l", point], check=False)
