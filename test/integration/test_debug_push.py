"""`salt host lxd_debug.bundle push=True` through a real salt-master and
minion: the archive lands in the master's cache, or the refusal is said."""

import json
import os
import tarfile
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def master_overrides():
    # cp.push needs file_recv; a 1 MiB cap lets a test exceed it
    return {"file_recv": True, "file_recv_max_size": 1}


def pushed_path(master, minion_id, archive):
    return (
        Path(master.config["cachedir"]) / "minions" / minion_id / "files"
        / "lxd-debug" / Path(archive).name
    )


def run_bundle(host):
    host.set_pillar({})
    return host.cli.run("lxd_debug.bundle", "push=True", minion_tgt=host.minion.id)


def test_bundle_lands_on_the_master(host, salt_master):
    result = run_bundle(host)
    assert result.returncode == 0, result
    assert result.data["pushed"] is True
    landed = pushed_path(salt_master, host.minion.id, result.data["path"])
    assert landed.read_bytes() == Path(result.data["path"]).read_bytes()
    with tarfile.open(landed, "r:gz") as archive:
        server = next(m for m in archive.getmembers() if m.name.endswith("lxd/server.json"))
        environment = json.load(archive.extractfile(server))["environment"]
    assert environment["server_name"] == host.daemon.query("/1.0")["environment"]["server_name"]


def test_refused_push_fails_and_keeps_the_archive(host, salt_master):
    # incompressible bytes in the daemon's log: the archive outgrows file_recv_max_size
    with open(host.daemon.root / "daemon.log", "ab") as log:
        log.write(os.urandom(2 * 1024 * 1024))

    result = run_bundle(host)

    assert result.returncode != 0
    assert result.data["pushed"] is False
    assert "file_recv: True" in result.data["push_error"]
    size = Path(result.data["path"]).stat().st_size
    assert size > 1024 * 1024
    # the master keeps at most what it took before the limit
    landed = pushed_path(salt_master, host.minion.id, result.data["path"])
    assert not landed.exists() or landed.stat().st_size < size
