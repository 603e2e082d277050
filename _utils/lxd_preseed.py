"""
The ``lxd init`` preseed the formula uses when ``lxd:init:preseed`` is
empty: a pure function of the ``lxd:init`` settings and the backend, for
the pillar module (which resolves the effective preseed) and ``lxd_init``.
"""

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils.lxd_backends import BACKENDS
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    from lxd_backends import BACKENDS


def default_preseed(backend, storage=True, storage_devices=None, network=True):
    """A storage pool ``local`` (zfs on ``storage_devices``, else dir), a
    bridge named as ``backend``'s own init names it (``network`` True for
    automatic addresses, or a mapping of bridge config keys) and a default
    profile using both."""
    preseed = {"config": {}, "profiles": []}
    devices = {}
    if storage:
        if storage_devices:
            pool = {"driver": "zfs", "config": {"source": ",".join(storage_devices)}}
        else:
            pool = {"driver": "dir", "config": {}}
        preseed["storage_pools"] = [dict(pool, name="local", description="")]
        devices["root"] = {"type": "disk", "path": "/", "pool": "local"}
    if network:
        config = {"ipv4.address": "auto", "ipv6.address": "auto"}
        if isinstance(network, dict):
            config = {key: str(value) for key, value in network.items()}
        bridge = BACKENDS.get(backend, BACKENDS["lxd"])["bridge"]
        preseed["networks"] = [
            {"name": bridge, "type": "bridge", "description": "", "config": config}
        ]
        devices["eth0"] = {"type": "nic", "name": "eth0", "network": bridge}
    preseed["profiles"].append({"name": "default", "devices": devices})
    return preseed
