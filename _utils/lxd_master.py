"""
The master's side of the runners (``lxd_cluster``, ``lxd_trust``): asking
minions, who a minion is as the master compiles it, and a runner's
answer. A runner makes one :py:class:`Master` per call from its
``__opts__`` and ``__context__``; what it compiles is kept in that context
for the rest of the call.

Who a minion is in its cluster (membership, cluster name, removal policy)
comes from the master, never from what the minion says of itself: its
minion id is its member name, and the rest is its pillar as the master
compiles it (which works after its key is deleted too).
"""

import logging

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils import lxd_cluster_plans, lxd_salt_compat, lxd_settings
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    import lxd_cluster_plans
    import lxd_salt_compat
    import lxd_settings

log = logging.getLogger(__name__)

CLUSTER_TARGET = "I@lxd:mode:cluster"
# Where a runner call keeps the minions' identities it compiled
IDENTITIES = "lxd_cluster.identities"
PARAMETERS = "lxd_cluster.parameters"


class Master:
    """One runner call's view from the master: ``opts`` is the runner's
    ``__opts__``, ``context`` its ``__context__`` (where ``retcode``, what
    salt-run exits with, is kept too)."""

    def __init__(self, opts, context):
        self.opts = opts
        self.context = context

    def wait(self):
        """How long to wait for a minion to start answering. LocalClient
        keeps waiting past it for minions still running the job, so it only
        bounds minions that are down; not ``timeout``, which ``salt-run
        --timeout`` may have raised to many minutes."""
        return self.opts.get("gather_job_timeout", 10)

    def ask(self, target, function, **kwargs):
        """Run ``function`` on ``target``; only the minions that answered,
        with what they returned."""
        returns = lxd_salt_compat.run(self.opts, target, function, self.wait(),
                                      full_return=True, **kwargs)
        return {
            minion: answer["ret"]
            for minion, answer in returns.items()
            if isinstance(answer, dict) and answer.get("retcode", 0) == 0
        }

    def answering(self, minions, rounds=3):
        """Those of ``minions`` that answer a ping, asking again (up to
        ``rounds`` times) while none does: after a key is deleted the master
        rotates its AES key, and a minion that is re-authenticating misses
        the first publish."""
        for _ in range(rounds):
            answered = sorted(self.ask(list(minions), "test.ping", tgt_type="list"))
            if answered:
                return answered
        return []

    def parameters(self):
        """The formula's parameters/defaults.yaml: the saltext-lxd package's
        own copy when the runner comes from it, else as the master serves it."""
        if PARAMETERS not in self.context:
            parameters = lxd_settings.packaged_parameters()
            if parameters is None:
                parameters = lxd_settings.parse(
                    lxd_salt_compat.fileserver_text(self.opts, lxd_settings.PARAMETERS_URL))
            self.context[PARAMETERS] = parameters
        return self.context[PARAMETERS]

    def compiled_identity(self, minion):
        """Who ``minion`` is in its cluster as the master sees it (see
        ``lxd_cluster_plans.compiled_identity``); compiled once per call."""
        cache = self.context.setdefault(IDENTITIES, {})
        if minion not in cache:
            compiled = lxd_salt_compat.compiled_pillar(self.opts, minion)
            cache[minion] = lxd_cluster_plans.compiled_identity(minion, compiled,
                                                                self.parameters())
        return cache[minion]

    def fresh(self):
        """Forget what an earlier call compiled (the reactor keeps one
        runner client, and its context, across reactions)."""
        self.context.pop(IDENTITIES, None)
        self.context["retcode"] = 0

    def cluster_minions(self, name, but=None):
        """The accepted minions whose pillar (as the master compiles it)
        puts them in cluster ``name``, by id; compiled only for the minions
        the master's pillar cache names cluster minions."""
        cached = lxd_salt_compat.pillar_matches(self.opts, CLUSTER_TARGET)
        return sorted(
            minion for minion in cached
            if minion != but and self.compiled_identity(minion)["mode"] == "cluster"
            and self.compiled_identity(minion)["cluster"] == name
        )

    def cluster_host(self, minion):
        """``minion``'s identity, compiled anew, and the refusal to act on
        it (None when its pillar makes it a cluster host)."""
        self.fresh()
        facts = self.compiled_identity(minion)
        if facts["mode"] == "cluster" and not facts["pillar_errors"]:
            return facts, None
        note = ""
        if facts["pillar_errors"]:
            note = " (it does not compile: " + "; ".join(facts["pillar_errors"]) + ")"
        return facts, self.result(minion, False, f"{minion} is not an LXD cluster host: its "
                                                 "pillar (as the master compiles it) has no "
                                                 f"lxd:mode cluster{note}; nothing was changed")

    def member_state(self, minion, identity, candidates, state, **kwargs):
        """Apply ``state`` to ``minion``'s member (``state.single``) through
        the first of ``candidates`` that answers; the runner's result."""
        answered = self.answering(candidates)
        via = next((other for other in candidates if other in answered), None)
        if via is None:
            return self.result(
                minion, False,
                f"no minion of cluster {identity['cluster']} that could do it answers "
                f"(tried: {', '.join(candidates) or 'none'}); nothing was changed",
            )
        returns = lxd_salt_compat.run(self.opts, via, "state.single", self.wait(), arg=[state],
                                      kwarg=dict(kwargs, name=identity["member"]))
        outcome = returns.get(via)
        if not isinstance(outcome, dict):
            return self.result(minion, False, f"{via} did not apply {state}: {outcome}")
        done = next(iter(outcome.values()))
        if not isinstance(done, dict):
            return self.result(minion, False, f"{via} did not apply {state}: {done}")
        return dict(self.result(minion, done["result"], done["comment"], via=via),
                    changes=done["changes"])

    def result(self, minion, result, comment, via=None):
        """A runner's answer; ``retcode`` is what salt-run exits with (1
        when it did not do what was asked)."""
        failed = result is False
        if failed:
            self.context["retcode"] = 1
            log.warning("lxd_cluster: %s: %s", minion, comment)
        return {"minion": minion, "result": result, "comment": comment, "via": via,
                "changes": {}, "retcode": int(failed)}
