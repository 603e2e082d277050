"""Fixtures of the hosts tier (see hostlab.py): an outer LXD daemon for the
session, and per test module a salt-master on its bridge with the hosts the
module adds."""

import os

import pytest

from test.support.hostlab import SUITE, Hosts, Outer


@pytest.fixture(scope="session")
def outer():
    daemon = Outer().start()
    try:
        yield daemon.prepare()
    finally:
        if not os.environ.get("HOSTS_KEEP"):
            daemon.stop()


@pytest.fixture(scope="module")
def host_suite():
    """The Debian suite of a module's hosts (a module overrides it)."""
    return SUITE


@pytest.fixture(scope="module")
def hosts(salt_factories, tmp_path_factory, formula_roots, outer, host_suite):
    """A salt-master on the outer bridge serving the formula, and the hosts
    a test module adds (deleted at its end)."""
    pillar_dir = tmp_path_factory.mktemp("hosts-pillar")
    (pillar_dir / "top.sls").write_text("base: {}\n")
    config = {
        "interface": outer.gateway,
        "file_roots": {"base": [str(formula_roots)]},
        "pillar_roots": {"base": [str(pillar_dir)]},
        # a host's apt run (LXD's packages) outlasts the default 5 s
        "gather_job_timeout": 30,
    }
    master = salt_factories.salt_master_daemon("lxd-hosts-master", overrides=config)
    with master.started():
        env = Hosts(master, outer, pillar_dir, salt_factories.event_listener, host_suite)
        synced = env.run.run("saltutil.sync_all")
        assert synced.returncode == 0, synced
        try:
            yield env
        finally:
            env.teardown()
