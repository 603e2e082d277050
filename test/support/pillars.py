"""Pillars of simulated hosts: daemons on this machine, each standing in
for a host (the tests' clusters and the sandbox's)."""


def simulated_member(daemon, files, cluster):
    """The ``lxd`` pillar of a cluster member whose ``daemon`` (a Daemon or
    the sandbox's LXDHost) runs already: the formula installs nothing, and
    the machine's kernel settings and network interfaces are not its to
    change (its config files go under ``files``)."""
    return {
        "backend": daemon.backend,
        "mode": "cluster",
        "install": {"method": "none"},
        "connection": {"socket": daemon.socket},
        "files": {"sysctl_conf": str(files / "60-lxd.conf"),
                  "tmpfiles_conf": str(files / "lxd-hardening.conf")},
        "sysctl_tuning": False,
        "kernel_hardening": False,
        # one network namespace for every simulated host: no bridges
        "init": {"network": False},
        "addresses": {"cluster": daemon.address},
        "cluster": {"name": cluster},
    }
