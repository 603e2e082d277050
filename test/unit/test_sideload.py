"""Sideloading (lxd_sideload): a LXD binary or a whole snap from salt://,
single files or tarballs, against the stand-in `snap` program that records
every call (there is no snapd here). Sources are served from the test file
root the loaders' minion has besides the formula."""

import hashlib
import io
import json
import shutil
import stat
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from test.support.formula import use_settings

# an ELF header of this machine, and one whose e_machine is another's
ELF_HEADER = Path("/bin/true").read_bytes()[:64]
BINARY = ELF_HEADER + b"a LXD debug build\n"
FOREIGN_MACHINE = (243 if ELF_HEADER[18:20] != (243).to_bytes(2, "little") else 62)
OTHER_BINARY = ELF_HEADER[:18] + FOREIGN_MACHINE.to_bytes(2, "little") + BINARY[20:]
RELOAD = [["systemctl", "is-active", "--quiet", "snap.lxd.daemon.service"],
          ["systemctl", "reload", "snap.lxd.daemon.service"]]


def snap_file(version, architectures=None):
    """A snap file as `snap pack` builds it: a squashfs holding meta/snap.yaml."""
    with tempfile.TemporaryDirectory() as root:
        meta = Path(root, "src", "meta")
        meta.mkdir(parents=True)
        yaml = f"name: lxd\nversion: {version}\n"
        if architectures:
            yaml += f"architectures: [{', '.join(architectures)}]\n"
        (meta / "snap.yaml").write_text(yaml)
        built = Path(root, "lxd.snap")
        subprocess.run(["mksquashfs", str(meta.parent), str(built), "-noappend", "-comp", "xz",
                        "-no-fragments", "-all-root", "-no-progress", "-quiet"],
                       check=True, capture_output=True)
        return built.read_bytes()


SNAP = snap_file("5.22-debug")


def sha256(content):
    return hashlib.sha256(content).hexdigest()


@pytest.fixture
def serve(loaders):
    """Serve files under salt://sideload-test/; returns serve(name, content) -> URL."""
    root = Path(loaders.opts["file_roots"]["base"][-1]) / "sideload-test"
    root.mkdir(parents=True)

    def serve(name, content):
        (root / name).write_bytes(content)
        return f"salt://sideload-test/{name}"

    yield serve
    shutil.rmtree(root)


def tarball(members, mode="w:gz"):
    """A tarball holding ``{name: content}``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, content in members.items():
            entry = tarfile.TarInfo(name)
            entry.size = len(content)
            archive.addfile(entry, io.BytesIO(content))
    return buffer.getvalue()


@pytest.fixture
def arch(loaders):
    return loaders.grains["osarch"]


@pytest.fixture
def debug_binary(tmp_path):
    """Where the snap's LXD would look for lxd.debug."""
    common = tmp_path / "common"
    common.mkdir()
    return common / "lxd.debug"


@pytest.fixture
def sideload(loaders, snap_standin, debug_binary):
    """lxd_sideload.applied on snap lxd (installed from the store, held),
    with the binary path of this test."""
    snap_standin.install("lxd", "latest/stable", held=True)

    def applied(**kwargs):
        kwargs.setdefault("binary_path", str(debug_binary))
        kwargs.setdefault("channel", "latest/stable")
        return loaders.states.lxd_sideload.applied("lxd", **kwargs)

    return applied


def changing_calls(snap_standin):
    return [call for call in snap_standin.calls()
            if call[0] not in ("list", "info", "version")]


def test_binary_is_installed_and_lxd_reloaded_never_restarted(sideload, serve, snap_standin,
                                                              debug_binary):
    source = serve("lxd", BINARY)
    dry = sideload(binary=source, test=True)
    assert dry.result is None
    assert dry.changes == {"binary": {"old": "none", "new": sha256(BINARY)}}
    assert not debug_binary.exists() and changing_calls(snap_standin) == []

    done = sideload(binary=source)
    assert done.result is True and done.changes == dry.changes
    assert debug_binary.read_bytes() == BINARY
    assert stat.S_IMODE(debug_binary.stat().st_mode) == 0o755
    # a reload keeps the instances running; `snap restart lxd` would stop them
    assert changing_calls(snap_standin) == RELOAD
    assert "instances_stopped" not in snap_standin.state()["lxd"]

    again = sideload(binary=source)
    assert again.result is True and again.changes == {}
    assert changing_calls(snap_standin) == RELOAD


def test_an_empty_file_removes_the_binary(sideload, serve, snap_standin, debug_binary):
    sideload(binary=serve("lxd", BINARY))
    source = serve("lxd", b"")
    dry = sideload(binary=source, test=True)
    assert dry.changes == {"binary": {"old": sha256(BINARY), "new": "removed"}}
    assert debug_binary.exists()

    done = sideload(binary=source)
    assert done.result is True and done.changes == dry.changes
    assert not debug_binary.exists()
    assert changing_calls(snap_standin) == RELOAD + RELOAD
    assert sideload(binary=source).changes == {}


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:xz"])
def test_a_tarball_gives_this_architecture_s_binary(sideload, serve, debug_binary, arch, mode):
    other = "s390x" if arch != "s390x" else "amd64"
    # named without .tar: tarballs are recognised by content
    source = serve("lxd-debug.bin", tarball(
        {f"lxd_{other}": OTHER_BINARY, f"./lxd_{arch}": BINARY}, mode
    ))
    done = sideload(binary=source)
    assert done.result is True
    assert done.changes == {"binary": {"old": "none", "new": sha256(BINARY)}}
    assert debug_binary.read_bytes() == BINARY
    assert sideload(binary=source).changes == {}


def test_a_tarball_without_this_architecture_fails_and_changes_nothing(
    sideload, serve, snap_standin, debug_binary, arch
):
    binary = serve("lxd", BINARY)
    snap = serve("snaps.tar", tarball({f"lxd_{arch}": BINARY, "lxd_riscv64.snap": SNAP}, "w"))
    for test in (True, False):
        result = sideload(binary=binary, snap=snap, test=test)
        assert result.result is False and result.changes == {}
        assert result.comment == (
            f"Sideloading LXD failed: lxd:sideload:snap: the tarball {snap} has no "
            f"lxd_{arch}.snap at its root (it holds: lxd_{arch}, lxd_riscv64.snap)"
        )
    assert not debug_binary.exists()
    assert changing_calls(snap_standin) == []


def test_a_missing_source_fails_naming_the_key(sideload, snap_standin, serve):
    result = sideload(snap="salt://sideload-test/nowhere.snap")
    assert result.result is False
    assert result.comment == (
        "Sideloading LXD failed: lxd:sideload:snap: "
        "salt://sideload-test/nowhere.snap is not on the Salt fileserver"
    )
    assert changing_calls(snap_standin) == []


def test_snap_is_installed_dangerous_then_goes_back_to_the_store(sideload, serve, snap_standin):
    source = serve("lxd_custom.snap", SNAP)
    dry = sideload(snap=source, test=True)
    assert dry.result is None
    assert dry.changes == {"snap": {"old": "none", "new": sha256(SNAP)}}
    assert changing_calls(snap_standin) == []

    done = sideload(snap=source)
    assert done.result is True and done.changes == dry.changes
    # without a store assertion: the lxc alias and the unix socket by hand
    install, *rest = changing_calls(snap_standin)
    assert install[:2] == ["install", "--dangerous"]
    assert Path(install[2]).read_bytes() == SNAP
    assert rest == [["alias", "lxd.lxc", "lxc"],
                    ["systemctl", "enable", "--now", "snap.lxd.daemon.unix.socket"]]
    installed = snap_standin.state()["lxd"]
    assert (installed["revision"], installed["version"]) == ("x1", "5.22-debug")
    assert installed["held"] is True and installed["channel"] == "latest/stable"
    assert sideload(snap=source).changes == {}

    empty = serve("lxd_custom.snap", b"")
    assert sideload(snap=empty, test=True).changes == {
        "snap": {"old": sha256(SNAP), "new": "removed"}
    }
    back = sideload(snap=empty, channel="5.21/stable", cohort=True)
    assert back.result is True
    assert changing_calls(snap_standin)[-1] == [
        "refresh", "lxd", "--amend", "--channel=5.21/stable", "--cohort=+"
    ]
    assert snap_standin.state()["lxd"]["revision"] == "28460"
    assert sideload(snap=empty).changes == {}
    assert len(changing_calls(snap_standin)) == 4


def test_another_snap_build_replaces_the_sideloaded_one(sideload, serve, snap_standin, arch):
    sideload(snap=serve("lxd.snap", SNAP))
    rebuilt = snap_file("5.22-debug2")
    source = serve("lxd.tar.xz", tarball({f"lxd_{arch}.snap": rebuilt}, "w:xz"))
    done = sideload(snap=source)
    assert done.changes == {"snap": {"old": sha256(SNAP), "new": sha256(rebuilt)}}
    assert snap_standin.state()["lxd"]["revision"] == "x2"
    assert sideload(snap=source).changes == {}


def test_a_snap_sideloaded_by_hand_is_replaced(sideload, serve, snap_standin, tmp_path):
    by_hand = tmp_path / "by-hand.snap"
    by_hand.write_bytes(b"name: lxd\n")
    snap_standin.install("lxd", "latest/stable")
    state = snap_standin.state()
    state["lxd"].update(revision="x7", version="hand-built")
    (snap_standin.path / "state.json").write_text(json.dumps(state))

    result = sideload(snap=serve("lxd.snap", SNAP), test=True)
    assert result.changes == {"snap": {"old": "local revision x7", "new": sha256(SNAP)}}


def test_both_kinds_at_once(sideload, serve, snap_standin, debug_binary):
    done = sideload(binary=serve("lxd", BINARY), snap=serve("lxd.snap", SNAP))
    assert set(done.changes) == {"binary", "snap"}
    # the snap first, then the binary and the reload that starts it
    assert [call[:2] for call in changing_calls(snap_standin)] == [
        ["install", "--dangerous"], ["alias", "lxd.lxc"], ["systemctl", "enable"],
        *[call[:2] for call in RELOAD]
    ]
    assert debug_binary.read_bytes() == BINARY


def test_nothing_to_sideload(sideload, snap_standin):
    result = sideload(binary=None, snap=None)
    assert result.result is True and result.changes == {}
    assert snap_standin.calls() == []


def test_plan_reads_its_target_from_the_formula_settings(loaders, serve, snap_standin, debug_binary):
    use_settings(loaders, {"files": {"sideload_binary": str(debug_binary)}})
    snap_standin.install("lxd", "latest/stable")
    plan = loaders.modules.lxd_sideload.plan(binary=serve("lxd", BINARY))
    assert plan == {"binary": {"old": "none", "new": sha256(BINARY)}}
    assert loaders.modules.lxd_sideload.member_name("snap") == (
        f"lxd_{loaders.grains['osarch']}.snap"
    )


def test_sideloading_needs_the_snap_install_method(loaders):
    errors = loaders.modules.lxd_pillar.validate(
        {"install": {"method": "package"}, "sideload": {"binary": "salt://lxd-debug/lxd"}},
        check_daemon=False,
    )
    assert errors == [
        "lxd:sideload: sideloading replaces the snap's LXD: it needs "
        "lxd:install:method snap, not 'package'"
    ]


def test_install_sls_sideloads_after_the_snap_and_then_stays_put(
    loaders, serve, snap_standin, debug_binary, arch
):
    use_settings(loaders, {
        "install": {"method": "snap", "channel": "5.21/stable"},
        "files": {"sideload_binary": str(debug_binary)},
        "sideload": {"binary": serve("lxd.tgz", tarball({f"lxd_{arch}": BINARY}))},
    })
    first = loaders.modules.state.sls("lxd.install.sideload")
    assert not first.failed and all(state.result is True for state in first), first.raw
    assert first["lxd-sideload"].run_num > first["lxd-snap"].run_num
    assert first["lxd-sideload"].changes == {"binary": {"old": "none", "new": sha256(BINARY)}}
    assert debug_binary.read_bytes() == BINARY

    again = loaders.modules.state.sls("lxd.install.sideload")
    assert {state.id: state.changes for state in again if state.changes} == {}


@pytest.mark.parametrize(("method", "included"), [("snap", True), ("package", False)])
def test_install_sls_includes_sideloading_for_snap_installs_only(loaders, method, included):
    use_settings(loaders, {"install": {"method": method}})
    high = loaders.modules.state.show_sls("lxd.install")
    assert ("lxd-sideload" in high) is included
    reachable = high["lxd-daemon-reachable"]["lxd"]
    requires = next(arg["require"] for arg in reachable if isinstance(arg, dict) and "require" in arg)
    assert ({"lxd_sideload": "lxd-sideload"} in requires) is included


def test_a_channel_change_is_refused_while_a_snap_is_sideloaded(
    loaders, sideload, serve, snap_standin
):
    sideload(snap=serve("lxd.snap", snap_file("5.21.0-debug")))
    result = loaders.states.lxd_snap.installed("lxd", channel="5.21/candidate", hold=True)
    assert result.result is False
    assert 'local snap "lxd" is unknown to the store, use --amend' in result.comment
    assert snap_standin.state()["lxd"]["revision"] == "x1"


def test_assets_built_for_another_architecture_are_refused(sideload, serve, snap_standin,
                                                          debug_binary, arch):
    binary = serve("lxd", OTHER_BINARY)
    snap = serve("lxd.snap", snap_file("5.22-debug", architectures=["s390x" if arch != "s390x"
                                                                    else "amd64"]))
    for kind, source in (("binary", binary), ("snap", snap)):
        for test in (True, False):
            result = sideload(test=test, **{kind: source})
            assert result.result is False and result.changes == {}
            assert f"lxd:sideload:{kind}: {source} is built for" in result.comment
            assert f"not for this minion's {arch}" in result.comment
    assert not debug_binary.exists()
    assert changing_calls(snap_standin) == []


def test_a_snap_for_this_or_every_architecture_is_taken(sideload, serve, snap_standin, arch):
    for architectures in ([arch], ["all"]):
        built = snap_file(f"5.22-{architectures[0]}", architectures=architectures)
        assert sideload(snap=serve("lxd.snap", built)).result is True


def test_reading_a_snap_is_bounded_by_the_timeout_given(loaders, sideload, serve, snap_standin,
                                                         arch):
    """The state passes ``command_timeout`` down to unsquashfs; without
    one, ``lxd:timeouts:command`` bounds it (here too short for any
    command to finish)."""
    use_settings(loaders, {"timeouts": {"command": 0.000001}})
    snap = serve("lxd.snap", snap_file("5.22-debug", architectures=[arch]))
    with pytest.raises(Exception, match="not a snap file"):
        loaders.modules.lxd_sideload.plan(snap=snap)
    assert sideload(test=True, snap=snap, command_timeout=600).result is None
