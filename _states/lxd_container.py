"""
Salt 3007's ``lxd_container`` states, kept by ``lxd_instance``.

This formula's ``lxd`` execution module takes the name of Salt 3007's own
(see docs/install.rst, "Installing"), so core's ``lxd_container`` states, which call
core's functions, would load and then fail on every call; this module
takes their name and their arguments instead. ``present``, ``absent``,
``running`` (``restart``) and ``stopped`` (``kill``) are
``lxd_instance``'s for a container; ``frozen`` and ``migrated`` fail,
saying so, before any change.

.. code-block:: yaml

    web1:
      lxd_container.present:
        - source: {type: image, alias: busybox}
        - running: true
"""

__virtualname__ = "lxd_container"


def __virtual__():
    if "lxd_instances.get" not in __salt__:
        return (False, "the lxd_instances execution module is not available (pylxd?)")
    return __virtualname__


def present(name, **kwargs):
    """Ensure container ``name`` exists (``lxd_instance.present``)."""
    return __states__["lxd_instance.present"](name, **dict(kwargs, type="container"))


def absent(name, stop=False, **remote):
    """Ensure container ``name`` is gone (``lxd_instance.absent``)."""
    return __states__["lxd_instance.absent"](name, stop=stop, **remote)


def running(name, restart=False, **remote):
    """Ensure container ``name`` runs (``lxd_instance.running``)."""
    return __states__["lxd_instance.running"](name, restart=restart, **remote)


def stopped(name, kill=False, **remote):
    """Ensure container ``name`` is stopped (``lxd_instance.stopped``)."""
    return __states__["lxd_instance.stopped"](name, kill=kill, **remote)


def frozen(name, **kwargs):
    """Not provided: fails naming what to use instead."""
    return _not_provided(name, "frozen", "lxd.request PUT instances/<name>/state "
                                         "'{action: freeze}'")


def migrated(name, **kwargs):
    """Not provided: fails naming what to use instead."""
    return _not_provided(name, "migrated", "lxd.request POST instances/<name> "
                                           "'{migration: true}' target=<member> in a cluster")


def _not_provided(name, function, instead):
    return {"name": name, "result": False, "changes": {},
            "comment": f"lxd_container.{function} (Salt 3007's) is not provided by this "
                       f"formula; nothing was changed. Use {instead}."}
