"""Fixtures shared by every test layer: real LXD daemons (one LXD_DIR and one
loopback address each) and Salt loaders over the formula's own modules."""

import itertools
import json
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import salt._logging.impl
import salt.config
from saltfactories.utils.functional import Loaders


def pytest_sessionfinish():
    """Salt's loader installs a deferred stderr log handler that replays its
    records at exit, into pytest's closed capture stream; pytest already
    reported them, so drop it."""
    handler = salt._logging.impl.get_temp_handler()
    if handler is not None:
        logging.root.removeHandler(handler)
        handler.flush = lambda: None


REPO = Path(__file__).resolve().parent.parent
STANDIN_BIN = REPO / "test" / "bin"
# LXD_TEST_SUBNET lets test runs share a machine (e.g. 127.0.1).
SUBNET = os.environ.get("LXD_TEST_SUBNET", "127.0.0")
ADDRESSES = (f"{SUBNET}.{host}" for host in itertools.count(2))
BACKENDS = ("lxd", "incus")


def pytest_addoption(parser):
    parser.addoption(
        "--backend", action="append", choices=BACKENDS,
        help="run the daemon tests against this backend only (repeatable; default: both)",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "backends(*names): the daemon kinds a test module can run against"
    )


def pytest_generate_tests(metafunc):
    """Every test that uses a daemon runs once per backend (``[lxd]``,
    ``[incus]`` in its id; ``--backend`` picks one), except where a
    ``backends`` mark narrows it (e.g. the snap path: LXD only)."""
    if "backend" not in metafunc.fixturenames:
        return
    chosen = metafunc.config.getoption("backend") or BACKENDS
    marks = [mark.args for mark in metafunc.definition.iter_markers("backends")]
    allowed = set(marks[0]) if marks else set(BACKENDS)
    metafunc.parametrize("backend", [name for name in chosen if name in allowed],
                         scope="session")


class Daemon:
    """One daemon standing in for one host: LXD (``lxd --group root``) or
    Incus (``incusd --group root``), with its own directory (LXD_DIR /
    INCUS_DIR) and its own loopback address (used once it listens on the
    network). ``lxc`` runs the backend's client (``lxc`` or ``incus``)."""

    KINDS = {
        "lxd": {"daemon": ["lxd"], "admin": ["lxd"], "client": "lxc",
                "dir_variable": "LXD_DIR", "bridge": "lxdbr0", "log_name": "lxd.log",
                "secret_key": "core.trust_password"},
        # Incus (and LXD >= 6.1) have no trust password
        "incus": {"daemon": ["/usr/libexec/incus/incusd"], "admin": ["incus", "admin"],
                  "client": "incus", "dir_variable": "INCUS_DIR", "bridge": "incusbr0",
                  "log_name": "incus.log", "secret_key": "loki.auth.password"},
    }

    def __init__(self, address, backend="lxd"):
        self.backend = backend
        self.kind = self.KINDS[backend]
        # unix socket paths are limited to 108 bytes: keep the directory short
        self.root = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir="/tmp"))
        self.address = address
        self.bridge = self.kind["bridge"]
        self.secret_key = self.kind["secret_key"]
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


@pytest.fixture
def lxd_daemon(backend):
    """A fresh, uninitialised daemon of the test's backend."""
    daemon = Daemon(next(ADDRESSES), backend).start()
    yield daemon
    daemon.stop()


FORMULA_PARTS = ("lxd", "_modules", "_states", "_runners", "reactor")


@pytest.fixture(scope="session")
def formula_roots(tmp_path_factory):
    """A master's file_roots holding the formula only: the repository itself
    would make the fileserver walk .venv and .git on every request."""
    roots = tmp_path_factory.mktemp("formula")
    for part in FORMULA_PARTS:
        (roots / part).symlink_to(REPO / part)
    return roots


@pytest.fixture(scope="module")
def lxd_daemons(backend):
    """Start fresh daemons of the backend on demand, one per simulated host;
    all are killed when the test module ends."""
    started = []

    def start():
        started.append(Daemon(next(ADDRESSES), backend).start())
        return started[-1]

    yield start
    for daemon in started:
        daemon.kill()


@pytest.fixture
def snap_standin(tmp_path, monkeypatch):
    """The stand-in `snap` program on PATH, with a store publishing LXD."""
    root = tmp_path / "snapd"
    root.mkdir()
    (root / "store.json").write_text(json.dumps({
        "lxd": {
            "latest/stable": ["5.21.1-d46c406", "28460"],
            "5.21/stable": ["5.21.1-d46c406", "28460"],
            "5.21/candidate": ["5.21.2-a1b2c3d", "29000"],
            "5.0/stable": ["5.0.3-babaaf8", "24061"],
        }
    }))
    monkeypatch.setenv("SNAP_STANDIN_DIR", str(root))
    monkeypatch.setenv("PATH", f"{STANDIN_BIN}:{os.environ['PATH']}")

    class Standin:
        path = root

        def calls(self):
            log = root / "calls.jsonl"
            if not log.exists():
                return []
            return [json.loads(line) for line in log.read_text().splitlines()]

        def install(self, name, channel, config=None, held=False):
            version, revision = json.loads((root / "store.json").read_text())[name][channel]
            state = {name: {"version": version, "revision": revision, "channel": channel,
                            "held": held, "config": config or {}}}
            (root / "state.json").write_text(json.dumps(state))

        def state(self):
            return json.loads((root / "state.json").read_text())

    return Standin()


def minion_opts(root, **extra):
    """A masterless minion configuration serving this repository."""
    opts = salt.config.minion_config(None)
    opts.update(
        id="lxd-test",
        file_client="local",
        # the formula, and salt:// files that tests serve (under root/srv)
        file_roots={"base": [str(REPO), str(root / "srv")]},
        pillar_roots={"base": [str(root / "pillar")]},
        root_dir=str(root),
        cachedir=str(root / "cache"),
        pki_dir=str(root / "pki"),
        sock_dir=str(root / "sock"),
        extension_modules=str(root / "extmods"),  # outside cachedir: Loaders wipes that
        log_file=str(root / "minion.log"),
        **extra,
    )
    return opts


@pytest.fixture(scope="module")
def module_loaders(tmp_path_factory):
    """Salt loaders (execution and state modules, the formula's included) for
    a masterless minion; loading takes seconds, so once per test module. The
    stand-in `snap` is on PATH so that the snap module loads."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{STANDIN_BIN}:{os.environ['PATH']}")
        yield Loaders(minion_opts(tmp_path_factory.mktemp("minion")))


@pytest.fixture
def loaders(module_loaders, request):
    """The module's loaders, reset for this test; `lxd` settings go in the
    minion config (read by config.get), pointing at the test's daemon."""
    settings = {}
    if "lxd_daemon" in request.fixturenames:
        daemon = request.getfixturevalue("lxd_daemon")
        settings = {"backend": daemon.backend, "connection": {"socket": daemon.socket}}
    module_loaders.opts["lxd"] = settings
    yield module_loaders
    module_loaders.reset_state()
