"""A real salt-master and salt-minion (pytest-salt-factories) serving this
repository as their file roots, the pillar written by each test."""

import contextlib
import textwrap

import pytest
import yaml


@pytest.fixture(scope="module")
def pillar_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("pillar")
    (path / "top.sls").write_text("base:\n  '*':\n    - lxd\n")
    (path / "lxd.sls").write_text("{}\n")
    return path


@pytest.fixture(scope="module")
def master_overrides():
    """Extra salt-master configuration; a test module overrides this fixture."""
    return {}


@pytest.fixture(scope="module")
def salt_master(salt_factories, pillar_dir, formula_roots, master_overrides):
    config = {
        "file_roots": {"base": [str(formula_roots)]},
        "pillar_roots": {"base": [str(pillar_dir)]},
        **master_overrides,
    }
    master = salt_factories.salt_master_daemon("lxd-master", overrides=config)
    with master.started():
        yield master


@pytest.fixture(scope="module")
def salt_minion(salt_master):
    minion = salt_master.salt_minion_daemon("lxd-host-1")
    with minion.started():
        synced = salt_master.salt_cli(timeout=120).run("saltutil.sync_all", minion_tgt=minion.id)
        assert synced.returncode == 0, synced
        yield minion


class Host:
    """The minion as the operator drives it: pillar, then salt commands."""

    def __init__(self, master, minion, pillar_dir, daemon, files):
        self.cli = master.salt_cli(timeout=300)
        self.minion = minion
        self.pillar_dir = pillar_dir
        self.daemon = daemon
        self.files = files

    def set_pillar(self, lxd):
        base = {
            "backend": self.daemon.backend,
            "install": {"method": "none"},
            "connection": {"socket": self.daemon.socket},
            "files": self.files,
        }
        merged = dict(base, **lxd)
        (self.pillar_dir / "lxd.sls").write_text(yaml.safe_dump({"lxd": merged}))
        refreshed = self.cli.run("saltutil.refresh_pillar", "wait=True", minion_tgt=self.minion.id)
        assert refreshed.returncode == 0, refreshed

    def apply(self, *args):
        result = self.cli.run("state.apply", "lxd", *args, minion_tgt=self.minion.id)
        assert isinstance(result.data, dict), textwrap.shorten(str(result), 2000)
        return result.data


@pytest.fixture
def host(salt_master, salt_minion, pillar_dir, lxd_daemon, tmp_path):
    files = {
        "sysctl_conf": str(tmp_path / "60-lxd.conf"),
        "tmpfiles_conf": str(tmp_path / "lxd-hardening.conf"),
    }
    return Host(salt_master, salt_minion, pillar_dir, lxd_daemon, files)


@pytest.fixture(scope="module")
def cluster_environment(salt_factories, tmp_path_factory, lxd_daemons, formula_roots):
    """``with cluster_environment(cluster_class, name, **master_config) as
    env``: a started salt-master ``name`` serving the formula, with an empty
    pillar top and the formula's runners synced, and on it a
    ``cluster_class`` (test_cluster's ``Cluster`` or a subclass), whose
    minions are stopped at the end."""

    @contextlib.contextmanager
    def start(cluster_class, name, **master_config):
        pillar_dir = tmp_path_factory.mktemp(f"{name}-pillar")
        (pillar_dir / "top.sls").write_text("base: {}\n")
        config = {
            "file_roots": {"base": [str(formula_roots)]},
            "pillar_roots": {"base": [str(pillar_dir)]},
            **master_config,
        }
        master = salt_factories.salt_master_daemon(name, overrides=config)
        with master.started():
            env = cluster_class(master, pillar_dir, tmp_path_factory.mktemp(f"{name}-files"),
                                lxd_daemons)
            synced = env.run.run("saltutil.sync_all")
            assert synced.returncode == 0, synced
            try:
                yield env
            finally:
                env.teardown()

    return start
