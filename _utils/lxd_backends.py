"""
What differs between the two daemons the formula drives, LXD and Incus:
one table, for the modules, the tests and the sandbox.
"""

# Per backend: the variable naming the daemon's directory; the local sockets
# to look for, in order, and the one to expect when none exists yet; the
# command-line client; the default bridge; how the daemon is run and
# driven as the distribution packages it (its admin commands: waitready,
# shutdown, cluster recovery); the name of its log in its directory.
BACKENDS = {
    "lxd": {
        "dir_variable": "LXD_DIR",
        "sockets": ("/var/snap/lxd/common/lxd/unix.socket", "/var/lib/lxd/unix.socket"),
        "default_socket": "/var/lib/lxd/unix.socket",
        "client": "lxc",
        "bridge": "lxdbr0",
        "daemon": ["lxd"],
        "admin": ["lxd"],
        "log_name": "lxd.log",
    },
    "incus": {
        "dir_variable": "INCUS_DIR",
        "sockets": ("/var/lib/incus/unix.socket", "/run/incus/unix.socket"),
        "default_socket": "/var/lib/incus/unix.socket",
        "client": "incus",
        "bridge": "incusbr0",
        "daemon": ["/usr/libexec/incus/incusd"],
        "admin": ["incus", "admin"],
        "log_name": "incus.log",
    },
}
