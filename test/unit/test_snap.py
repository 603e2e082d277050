"""The snap module and states against the stand-in `snap` program, which
records every call (there is no snapd here)."""

import pytest

from test.support.formula import use_settings


@pytest.fixture
def snap(loaders, snap_standin):
    return loaders.modules.lxd_snap


@pytest.fixture
def states(loaders, snap_standin):
    return loaders.states.lxd_snap


def test_install_with_channel_and_cohort(snap, snap_standin):
    info = snap.install("lxd", "5.21/stable", cohort=True)
    assert info == {"name": "lxd", "version": "5.21.1-d46c406", "revision": "28460",
                    "channel": "5.21/stable", "held": False, "cohort": True}
    assert ["install", "lxd", "--channel=5.21/stable", "--cohort=+"] in snap_standin.calls()
    # as snapd does: a second install is a notice, exit 0, and changes nothing
    assert snap.install("lxd", "5.21/candidate") == info


def test_channel_names_are_normalised(snap):
    assert snap.normalise_channel("stable") == "latest/stable"
    assert snap.normalise_channel("5.21") == "5.21/stable"
    assert snap.normalise_channel("edge/fix") == "latest/edge/fix"
    assert snap.normalise_channel("5.0/stable") == "5.0/stable"


def test_installed_state_installs_holds_then_does_nothing(states, snap_standin):
    dry = states.installed("lxd", channel="latest/stable", hold=True, test=True)
    assert dry.result is None
    assert dry.changes == {"installed": {"old": None, "new": "latest/stable"},
                           "held": {"old": False, "new": True}}
    assert snap_standin.calls() == [["list", "lxd", "--unicode=never"], ["version"]]

    done = states.installed("lxd", channel="latest/stable", hold=True)
    assert done.result is True and done.changes == dry.changes
    assert snap_standin.state()["lxd"]["held"] is True
    assert snap_standin.calls()[2:] == [
        ["list", "lxd", "--unicode=never"], ["version"], ["wait", "system", "seed.loaded"],
        ["install", "lxd", "--channel=latest/stable"], ["list", "lxd", "--unicode=never"],
        ["refresh", "--hold", "lxd"],
    ]

    again = states.installed("lxd", channel="stable", hold=True)
    assert again.result is True and again.changes == {}


def test_channel_change_refreshes_with_cohort(states, snap_standin):
    snap_standin.install("lxd", "5.21/stable")
    result = states.installed("lxd", channel="5.21/candidate", cohort=True)
    assert result.changes["channel"] == {"old": "5.21/stable", "new": "5.21/candidate"}
    assert ["refresh", "lxd", "--channel=5.21/candidate", "--cohort=+"] in snap_standin.calls()
    assert snap_standin.state()["lxd"]["version"] == "5.21.2-a1b2c3d"


def test_without_refresh_a_channel_change_is_left_to_the_rolling_upgrade(states, snap_standin):
    snap_standin.install("lxd", "5.21/stable", cohort="+")
    result = states.installed("lxd", channel="5.21/candidate", cohort=True, refresh=False)
    assert result.result is True and result.changes == {}
    assert "tracks 5.21/stable" in result.comment and "5.21/candidate" in result.comment
    assert "state.orchestrate lxd.cluster.upgrade" in result.comment
    assert not [call for call in snap_standin.calls() if call[0] == "refresh"]
    assert snap_standin.state()["lxd"]["channel"] == "5.21/stable"


def test_without_refresh_a_fresh_install_still_happens(states, snap_standin):
    result = states.installed("lxd", channel="5.21/stable", refresh=False)
    assert result.changes == {"installed": {"old": None, "new": "5.21/stable"}}
    assert snap_standin.state()["lxd"]["channel"] == "5.21/stable"


def test_downgrade_is_refused_and_changes_nothing(states, snap_standin):
    snap_standin.install("lxd", "5.21/stable")
    result = states.installed("lxd", channel="5.0/stable")
    assert result.result is False
    assert "downgrade" in result.comment and "lxd:install:channel" in result.comment
    assert not [call for call in snap_standin.calls() if call[0] == "refresh"]
    assert snap_standin.state()["lxd"]["channel"] == "5.21/stable"


def test_unknown_channel_fails_cleanly(states, snap_standin):
    result = states.installed("lxd", channel="6.1/stable")
    assert result.result is False
    assert "not available" in result.comment


def test_unhold(states, snap_standin):
    snap_standin.install("lxd", "latest/stable", held=True)
    assert states.installed("lxd", hold=False).changes == {"held": {"old": True, "new": False}}
    assert ["refresh", "--unhold", "lxd"] in snap_standin.calls()


def test_all_config_set_in_one_call_and_lxcfs_pending(states, snap, snap_standin):
    snap_standin.install("lxd", "latest/stable", config={"daemon": {"debug": False}})
    config = {"daemon.debug": True, "daemon.syslog": True, "lxcfs.loadavg": True}
    dry = states.configured("lxd", config=config, reboot_keys=["lxcfs."], test=True)
    assert dry.result is None and set(dry.changes) == set(config)
    assert not [call for call in snap_standin.calls() if call[0] == "set"]

    done = states.configured("lxd", config=config, reboot_keys=["lxcfs."])
    assert done.changes == {
        "daemon.debug": {"old": "false", "new": "true"},
        "daemon.syslog": {"old": None, "new": "true"},
        "lxcfs.loadavg": {"old": None, "new": "true"},
    }
    sets = [call for call in snap_standin.calls() if call[0] == "set"]
    assert sets == [["set", "lxd", "daemon.debug=true", "daemon.syslog=true", "lxcfs.loadavg=true"]]
    assert "Pending a reboot to take effect: lxcfs.loadavg" in done.comment
    assert snap.pending("lxd") == {"lxcfs.loadavg": {"old": None, "new": "true"}}

    again = states.configured("lxd", config=config, reboot_keys=["lxcfs."])
    assert again.changes == {} and "lxcfs.loadavg" in again.comment


def test_pending_is_cleared_by_a_reboot(snap, snap_standin, loaders, tmp_path, monkeypatch):
    snap_standin.install("lxd", "latest/stable")
    snap.set_config("lxd", {"lxcfs.pidfd": True}, reboot_keys=["lxcfs."])
    assert "lxcfs.pidfd" in snap.pending("lxd")
    boot_id = tmp_path / "boot_id"
    boot_id.write_text("another-boot\n")
    monkeypatch.setitem(snap.pending.__globals__, "BOOT_ID", str(boot_id))
    assert snap.pending("lxd") == {}


def test_a_hold_on_snapd_older_than_2_58_1_fails_naming_the_key(states, snap_standin,
                                                                 monkeypatch):
    monkeypatch.setenv("SNAP_STANDIN_SNAPD", "2.57.6")
    for test in (True, False):
        result = states.installed("lxd", channel="5.21/stable", hold=True, test=test)
        assert result.result is False and result.changes == {}
        assert result.comment.startswith("lxd:install:hold: snapd 2.57.6 cannot hold")
    assert not [call for call in snap_standin.calls() if call[0] in ("install", "refresh")]
    # and snapd itself: an unknown flag
    snap_standin.install("lxd", "5.21/stable")
    held = states.installed("lxd", channel="5.21/stable", hold=False)
    assert held.result is True and held.changes == {}


def test_an_installed_snap_joins_the_cohort_without_a_refresh(states, snap_standin):
    snap_standin.install("lxd", "5.21/stable")
    dry = states.installed("lxd", channel="5.21/stable", cohort=True, test=True)
    assert dry.result is None and dry.changes == {"cohort": {"old": None, "new": "+"}}
    done = states.installed("lxd", channel="5.21/stable", cohort=True)
    assert done.result is True and done.changes == dry.changes
    assert ["switch", "lxd", "--cohort=+"] in snap_standin.calls()
    assert not [call for call in snap_standin.calls() if call[0] == "refresh"]
    assert snap_standin.state()["lxd"]["cohort"] == "+"
    assert states.installed("lxd", channel="5.21/stable", cohort=True).changes == {}


def test_config_set_then_the_daemon_reloaded_but_not_for_lxcfs_keys(states, snap_standin):
    snap_standin.install("lxd", "latest/stable")
    dry = states.configured("lxd", config={"daemon.debug": True}, reboot_keys=["lxcfs."],
                            reload="daemon", test=True)
    assert "snap.lxd.daemon.service would be reloaded" in dry.comment
    done = states.configured("lxd", config={"daemon.debug": True}, reboot_keys=["lxcfs."],
                             reload="daemon")
    assert "snap.lxd.daemon.service was reloaded" in done.comment
    changing = [call for call in snap_standin.calls() if call[0] in ("set", "systemctl")]
    assert changing == [
        ["systemctl", "is-active", "--quiet", "snap.lxd.daemon.service"],
        ["set", "lxd", "daemon.debug=true"],
        ["systemctl", "is-active", "--quiet", "snap.lxd.daemon.service"],
        ["systemctl", "reload", "snap.lxd.daemon.service"],
    ]
    lxcfs = states.configured("lxd", config={"daemon.debug": True, "lxcfs.pidfd": True},
                              reboot_keys=["lxcfs."], reload="daemon")
    assert lxcfs.changes == {"lxcfs.pidfd": {"old": None, "new": "true"}}
    assert "reloaded" not in lxcfs.comment and "Pending a reboot" in lxcfs.comment
    assert [call for call in snap_standin.calls() if call[:2] == ["systemctl", "reload"]] == [
        ["systemctl", "reload", "snap.lxd.daemon.service"]]


def test_the_standin_answers_as_snapd_does(snap, snap_standin):
    snap_standin.install("lxd", "5.21/stable", config={"daemon": {"debug": True}})
    assert snap.version() == "2.63"
    assert snap.get("lxd") == {"daemon.debug": "true"}
    # closed risks: ^ after an open one in the track, -- before any
    assert snap.channel_version("lxd", "5.21/beta") is None
    assert snap.channel_version("lxd", "5.0/candidate") is None
    assert snap.channel_version("lxd", "5.21/candidate") == "5.21.2-a1b2c3d"


def test_the_states_bound_commands_by_the_timeout_they_are_given(loaders, snap_standin):
    """The states pass ``timeout`` down to every snap and systemctl command;
    from the command line, ``lxd:timeouts:command`` bounds them (here too
    short for any command to finish). The modules are taken after the
    settings change: Salt 3007 makes its loaders again for new settings."""
    use_settings(loaders, {"timeouts": {"command": 0.000001}})
    states = loaders.states.lxd_snap
    with pytest.raises(Exception, match="snap version"):
        loaders.modules.lxd_snap.version()
    assert states.installed("lxd", channel="latest/stable", hold=True, timeout=600).result
    assert snap_standin.state()["lxd"]["held"] is True
    configured = states.configured("lxd", config={"daemon.debug": True}, reload="daemon",
                                   timeout=600)
    assert configured.result is True
    assert "snap.lxd.daemon.service was reloaded" in configured.comment
