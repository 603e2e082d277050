"""
The state every other state of the formula requires: the pillar is valid
(``lxd_pillar.validate``), so that a bad value fails before anything on the
host is changed.

.. code-block:: yaml

    lxd-pillar-valid:
      lxd_pillar.valid:
        - pillar: {{ salt['pillar.get']('lxd', {}) | json }}
        - defaults: {{ defaults.lxd | json }}
"""

__virtualname__ = "lxd_pillar"


def __virtual__():
    return __virtualname__


def valid(name, pillar=None, defaults=None):
    """
    Fail, naming every bad key and the reason, when the formula's pillar is
    invalid or asks to change ``mode`` / ``init`` of an initialised daemon.
    Never changes anything.

    pillar
        The ``lxd`` pillar as given (default: read with ``config.get``).

    defaults
        The formula's defaults (default: ``lxd/parameters/defaults.yaml``).
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    errors = __salt__["lxd_pillar.validate"](pillar, defaults)
    if errors:
        ret["result"] = False
        ret["comment"] = "Invalid pillar, nothing was changed:\n" + "\n".join(errors)
    else:
        ret["comment"] = "The lxd pillar is valid."
    return ret
