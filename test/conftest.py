"""Fixtures shared by every test layer: real LXD daemons (one LXD_DIR and one
loopback address each) and Salt loaders over the formula's own modules
(synced, or from the installed package: see formula.py)."""

import itertools
import json
import logging
import os

import pytest
import salt._logging.impl
import salt.config
from saltfactories.utils.functional import Loaders

from test.support.daemons import Daemon
from test.support.formula import EXTENSION, FORMULA_PARTS, REPO, stale_extension_files, use_settings
from test.support.story import record_passed


def pytest_sessionfinish():
    """Salt's loader installs a deferred stderr log handler that replays its
    records at exit, into pytest's closed capture stream; pytest already
    reported them, so drop it."""
    handler = salt._logging.impl.get_temp_handler()
    if handler is not None:
        logging.root.removeHandler(handler)
        handler.flush = lambda: None


STANDIN_BIN = REPO / "test" / "bin"
# LXD_TEST_SUBNET lets test runs share a machine (e.g. 127.0.1).
SUBNET = os.environ.get("LXD_TEST_SUBNET", "127.0.0")
ADDRESSES = (f"{SUBNET}.{host}" for host in itertools.count(2))
BACKENDS = ("lxd", "incus")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A story module's later tests see which earlier ones passed
    (test/support/story.py)."""
    report = yield
    record_passed(item, report)
    return report


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


@pytest.fixture
def lxd_daemon(backend):
    """A fresh, uninitialised daemon of the test's backend."""
    daemon = Daemon(next(ADDRESSES), backend).start()
    yield daemon
    daemon.stop()


def pytest_sessionstart(session):
    if EXTENSION and (stale := stale_extension_files()):
        pytest.exit(f"saltext-lxd in {EXTENSION} is not built from this checkout "
                    f"({', '.join(stale[:5])} differ): run bash test/setup.sh", returncode=4)


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

        def install(self, name, channel, config=None, held=False, cohort=None):
            version, revision = json.loads((root / "store.json").read_text())[name][channel]
            state = {name: {"version": version, "revision": revision, "channel": channel,
                            "held": held, "config": config or {}, "cohort": cohort}}
            (root / "state.json").write_text(json.dumps(state))

        def state(self):
            return json.loads((root / "state.json").read_text())

    return Standin()


def minion_opts(root, formula, **extra):
    """A masterless minion configuration serving the ``formula`` roots."""
    opts = salt.config.minion_config(None)
    opts.update(
        id="lxd-test",
        file_client="local",
        # the formula, and salt:// files that tests serve (under root/srv)
        file_roots={"base": [str(formula), str(root / "srv")]},
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
def module_loaders(tmp_path_factory, formula_roots):
    """Salt loaders (execution and state modules, the formula's included) for
    a masterless minion; loading takes seconds, so once per test module. The
    stand-in `snap` is on PATH so that the snap module loads."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{STANDIN_BIN}:{os.environ['PATH']}")
        yield Loaders(minion_opts(tmp_path_factory.mktemp("minion"), formula_roots))


@pytest.fixture
def loaders(module_loaders, request):
    """The module's loaders, reset for this test; `lxd` settings point at
    the test's daemon (``use_settings`` changes them)."""
    settings = {}
    if "lxd_daemon" in request.fixturenames:
        daemon = request.getfixturevalue("lxd_daemon")
        settings = {"backend": daemon.backend, "connection": {"socket": daemon.socket}}
    use_settings(module_loaders, settings)
    yield module_loaders
    module_loaders.reset_state()
