"""
The plans the formula's orchestrate SLS files read while they render on
the master (``lxd/cluster/init.sls``, ``lxd/cluster/upgrade.sls``): the
``lxd_cluster`` runner's ``plan`` and ``upgrade_plan``, run in the
orchestrate's own process like ``saltutil.runner`` does, but with the
runner client closed once it answered (``saltutil.runner`` leaves it to
the garbage collector, which warns "unclosed RunnerClient" after every
orchestrate). Loaded on the master only (``salt-run saltutil.sync_all``
syncs it there).
"""

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_salt_compat
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_salt_compat

__virtualname__ = "lxd_orchestrate"


def __virtual__():
    if __opts__.get("__role") == "master":
        return __virtualname__
    return False, "lxd_orchestrate runs the master's runners: it loads on the master only"


def cluster_plan(cluster=None, locking=False):
    """
    Return ``salt-run lxd_cluster.plan`` (see there) for ``cluster`` (all
    clusters when None), locking each cluster with joiners when
    ``locking``.

    CLI Example:

    .. code-block:: jinja

        {%- set plan = salt["lxd_orchestrate.cluster_plan"](cluster=None, locking=True) %}
    """
    return lxd_salt_compat.run_runner(__opts__, "lxd_cluster.plan",
                                      {"cluster": cluster, "locking": locking})


def upgrade_plan(cluster=None):
    """
    Return ``salt-run lxd_cluster.upgrade_plan`` (see there) for
    ``cluster`` (all clusters when None).

    CLI Example:

    .. code-block:: jinja

        {%- set plan = salt["lxd_orchestrate.upgrade_plan"](cluster=None) %}
    """
    return lxd_salt_compat.run_runner(__opts__, "lxd_cluster.upgrade_plan", {"cluster": cluster})
