"""The lxd_host module and states against the real kernel of this machine
(rule files go to a temporary directory)."""

import os
import stat
from pathlib import Path

import pytest

SYSCTL = {"vm.max_map_count": 262144, "fs.aio-max-nr": 524288, "no.such.key": 1}


def mode(path):
    return f"{stat.S_IMODE(os.stat(path).st_mode):04o}"


def read(key):
    with open("/proc/sys/" + key.replace(".", "/")) as handle:
        return handle.read().strip()


@pytest.fixture
def restore_kernel():
    saved = {key: read(key) for key in SYSCTL if key != "no.such.key"}
    slab = mode("/sys/kernel/slab") if os.path.exists("/sys/kernel/slab") else None
    yield
    for key, value in saved.items():
        with open("/proc/sys/" + key.replace(".", "/"), "w") as handle:
            handle.write(value)
    if slab:
        os.chmod("/sys/kernel/slab", int(slab, 8))


def test_sysctl_tuned_applies_persists_and_is_idempotent(loaders, tmp_path, restore_kernel):
    conf = str(tmp_path / "60-lxd.conf")
    for key in ("vm.max_map_count", "fs.aio-max-nr"):
        with open("/proc/sys/" + key.replace(".", "/"), "w") as handle:
            handle.write("65530")
    state = loaders.states.lxd_host

    dry = state.sysctl_tuned(conf, values=SYSCTL, test=True)
    assert dry.result is None
    assert dry.changes["vm.max_map_count"] == {"old": "65530", "new": "262144"}
    assert read("vm.max_map_count") == "65530" and not os.path.exists(conf)

    done = state.sysctl_tuned(conf, values=SYSCTL)
    assert done.result is True and done.changes == dry.changes
    assert "no.such.key" in done.comment
    assert read("vm.max_map_count") == "262144" and read("fs.aio-max-nr") == "524288"
    text = Path(conf).read_text()
    assert "vm.max_map_count = 262144\n" in text and "no.such.key" not in text

    assert state.sysctl_tuned(conf, values=SYSCTL).changes == {}


@pytest.mark.skipif(not os.path.exists("/sys/kernel/slab"), reason="kernel without /sys/kernel/slab")
def test_hardening_applies_persists_and_reverts(loaders, tmp_path, restore_kernel):
    conf = str(tmp_path / "lxd-hardening.conf")
    paths = {
        "/sys/kernel/slab": {"mode": "0700", "default": "0755"},
        "/proc/no_such_file": {"mode": "0400", "default": "0444"},
    }
    os.chmod("/sys/kernel/slab", 0o755)
    state = loaders.states.lxd_host

    dry = state.hardened(conf, paths=paths, test=True)
    assert dry.result is None and mode("/sys/kernel/slab") == "0755"
    done = state.hardened(conf, paths=paths)
    assert done.changes == {"/sys/kernel/slab": {"old": "0755", "new": "0700"}, conf: "written"}
    assert "/proc/no_such_file" in done.comment
    assert mode("/sys/kernel/slab") == "0700"
    assert "z /sys/kernel/slab 0700 - - -\n" in Path(conf).read_text()
    assert state.hardened(conf, paths=paths).changes == {}

    undone = state.unhardened(conf, paths=paths)
    assert undone.changes == {"/sys/kernel/slab": {"old": "0700", "new": "0755"}, conf: "removed"}
    assert mode("/sys/kernel/slab") == "0755" and not os.path.exists(conf)
    assert state.unhardened(conf, paths=paths).changes == {}
