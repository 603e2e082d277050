"""What lxd_snap reads of snapd's output and how it orders versions and
names channels: pure functions, given the output snapd prints (snapd
2.61, cmd/snap/cmd_list.go, cmd_info.go, cmd_version.go)."""

import lxd_snap_rules as rules

SNAP_LIST = """\
Name  Version         Rev    Tracking     Publisher   Notes
core  16-2.61.4       17200  latest/stable  canonical✓  core
lxd   5.21.1-d46c406  28460  5.21/stable  canonical✓  held,in-cohort
"""

SNAP_INFO = """\
name:      lxd
summary:   LXD - container and VM manager
channels:
  5.21/stable:      5.21.1-d46c406 2024-05-02 (28460) 109MB -
  5.21/candidate:   ^
  5.21/edge:        --
  latest/stable:    6.1-78a3d8f    2024-07-12 (29351) 111MB -
"""


def test_a_listed_snap_with_its_notes():
    assert rules.listed(SNAP_LIST, "lxd") == {
        "name": "lxd", "version": "5.21.1-d46c406", "revision": "28460",
        "channel": "5.21/stable", "held": True, "cohort": True}
    assert rules.listed(SNAP_LIST, "core")["held"] is False
    assert rules.listed(SNAP_LIST, "microceph") is None


def test_a_channel_version_is_none_when_closed_or_following():
    assert rules.channel_version(SNAP_INFO, "5.21") == "5.21.1-d46c406"
    assert rules.channel_version(SNAP_INFO, "stable") == "6.1-78a3d8f"
    assert rules.channel_version(SNAP_INFO, "5.21/candidate") is None
    assert rules.channel_version(SNAP_INFO, "5.21/edge") is None
    assert rules.channel_version(SNAP_INFO, "5.0/stable") is None


def test_snapd_version_is_the_clients_when_the_daemon_is_unavailable():
    assert rules.snapd_version("snap    2.61.4\nsnapd   2.61.3\nseries  16\n") == "2.61.3"
    assert rules.snapd_version("snap    2.57.6\nsnapd   unavailable\n") == "2.57.6"


def test_versions_order_without_their_git_suffix():
    assert rules.numeric("5.21.1-d46c406") == "5.21.1"
    assert rules.older("5.0.3-babaaf8", "5.21.1-d46c406")
    assert not rules.older("5.21.1-d46c406", "5.21.1-a1b2c3d")
    assert rules.holds_supported("2.58.1") and rules.holds_supported("2.61")
    assert not rules.holds_supported("2.58") and not rules.holds_supported("2.57.6")


def test_channels_are_normalised():
    assert rules.normalise_channel("stable") == "latest/stable"
    assert rules.normalise_channel("5.21") == "5.21/stable"
    assert rules.normalise_channel("edge/fix") == "latest/edge/fix"
    assert rules.normalise_channel("5.0/stable") == "5.0/stable"
    assert rules.channel_args("5.21/stable", cohort=True) == [
        "--channel=5.21/stable", "--cohort=+"]
    assert rules.channel_args("5.21/stable", cohort=False) == ["--channel=5.21/stable"]


def test_config_is_flat_strings_and_changes_are_what_differs():
    flat = rules.flattened({"daemon": {"debug": True, "group": "lxd"}, "ceph": {"x": 1}})
    assert flat == {"daemon.debug": "true", "daemon.group": "lxd", "ceph.x": "1"}
    assert rules.config_changes(flat, {"daemon.debug": True, "daemon.syslog": False}) == {
        "daemon.syslog": {"old": None, "new": "false"}}


def test_a_pending_key_keeps_what_ran_before_its_first_change_since_boot():
    changes = {"lxcfs.loadavg": {"old": "true", "new": "false"},
               "daemon.debug": {"old": None, "new": "true"}}
    waiting = rules.waiting_for_reboot(changes, ["lxcfs."])
    assert waiting == {"lxcfs.loadavg": {"old": "true", "new": "false"}}
    earlier = {"lxcfs.loadavg": {"old": None, "new": "true"}}
    assert rules.since_boot(earlier, waiting) == {
        "lxcfs.loadavg": {"old": None, "new": "false"}}
    assert rules.since_boot({}, waiting) == waiting
    assert rules.waiting_for_reboot(changes, None) == {}
