"""What a PUT of a declared pool or network keeps: values LXD chose (a
bridge's ``auto`` subnet) or rewrote at creation (a block device's source)
stay as LXD holds them, so that a re-run changes nothing."""

MARKER = "user.salt.managed"


def updated(loaders, current, wanted_config):
    # private to the module: reached through it
    private = loaders.modules.lxd_resources.ensure.func.__globals__["_updated"]
    wanted = {"description": "", "config": dict(wanted_config,
                                                **{MARKER: ",".join(sorted(wanted_config))})}
    return private(current, wanted, ("config", "description"), {})["config"]


def test_a_subnet_lxd_chose_for_auto_stays(loaders):
    held = {"ipv4.address": "10.77.3.1/24", "ipv4.nat": "true", MARKER: "ipv4.address,ipv4.nat"}
    current = {"description": "", "config": held}
    assert updated(loaders, current, {"ipv4.address": "auto", "ipv4.nat": "true"}) == held


def test_a_rewritten_source_stays_and_a_dropped_key_goes(loaders):
    held = {"source": "fast", "volatile.initial_source": "/dev/sdb", "size": "",
            "zfs.clone_copy": "true", MARKER: "size,source,zfs.clone_copy"}
    current = {"description": "", "config": held}
    config = updated(loaders, current, {"source": "/dev/sdb", "size": "30GiB"})
    assert config == {"source": "fast", "volatile.initial_source": "/dev/sdb", "size": "",
                      MARKER: "size,source"}
