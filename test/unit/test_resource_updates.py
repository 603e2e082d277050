"""What a PUT of a declared pool or network keeps: values LXD chose (a
bridge's ``auto`` subnet) or rewrote at creation (a block device's source)
stay as LXD holds them, so that a re-run changes nothing."""

from test.support.modules import load_plain

MARKER = "user.salt.managed"


def updated(current, wanted_config):
    # private to the module (pure): the module imported as a plain module
    private = load_plain("_modules/lxd_resources.py")._updated
    wanted = {"description": "", "config": dict(wanted_config,
                                                **{MARKER: ",".join(sorted(wanted_config))})}
    return private(current, wanted, ("config", "description"), {})["config"]


def test_a_subnet_lxd_chose_for_auto_stays():
    held = {"ipv4.address": "10.77.3.1/24", "ipv4.nat": "true", MARKER: "ipv4.address,ipv4.nat"}
    current = {"description": "", "config": held}
    assert updated(current, {"ipv4.address": "auto", "ipv4.nat": "true"}) == held


def test_a_rewritten_source_stays_and_a_dropped_key_goes():
    held = {"source": "fast", "volatile.initial_source": "/dev/sdb", "size": "",
            "zfs.clone_copy": "true", MARKER: "size,source,zfs.clone_copy"}
    current = {"description": "", "config": held}
    config = updated(current, {"source": "/dev/sdb", "size": "30GiB"})
    assert config == {"source": "fast", "volatile.initial_source": "/dev/sdb", "size": "",
                      MARKER: "size,source"}
