"""A member that does not keep its cluster's shared settings waits for the
keeper and says what the cluster still lacks (_utils/lxd_shared_settings)."""

import lxd_shared_settings as shared

KEEPER_ELSEWHERE = {"member": "m1", "where": "kept by member m1 for the cluster"}
ASKED = {"core.proxy_http": {"old": None, "new": "http://proxy:3128"}}


def test_the_keeper_itself_makes_the_changes():
    assert shared.outcome({"member": None, "where": None}, dict, "proxy settings",
                          test=False, timeout=1) is None


def test_a_member_of_an_unformed_cluster_leaves_them_to_the_bootstrap_member():
    keeper = {"member": None, "where": "set by the bootstrap member once the cluster is formed"}
    assert shared.outcome(keeper, lambda: ASKED, "proxy settings", test=False, timeout=1) == {
        "result": True, "changes": {},
        "comment": "The proxy settings are set by the bootstrap member once the cluster "
                   "is formed."}


def test_a_dry_run_reports_the_pending_change_at_once():
    ret = shared.outcome(KEEPER_ELSEWHERE, lambda: ASKED, "proxy settings", test=True,
                         timeout=3600)
    assert ret == {"result": None, "changes": ASKED,
                   "comment": "m1 keeps the cluster's shared settings; the cluster still has "
                              "core.proxy_http: absent, this member's pillar asks "
                              "core.proxy_http: \"http://proxy:3128\": pending until lxd is "
                              "applied on m1."}


def test_the_wait_ends_when_the_keeper_has_made_the_change():
    answers = iter([ASKED, {}])
    ret = shared.outcome(KEEPER_ELSEWHERE, lambda: next(answers), "proxy settings",
                         test=False, timeout=30)
    assert ret["result"] is True and ret["changes"] == {}
    assert ret["comment"].endswith("and hold what this member's pillar asks.")


def test_a_keeper_that_never_comes_fails_naming_it_and_the_bound():
    ret = shared.outcome(KEEPER_ELSEWHERE, lambda: ASKED, "proxy settings", test=False,
                         timeout=0)
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"].endswith("apply lxd on m1, or give both the same pillar "
                                   "(waited 0 s, lxd:timeouts:request); nothing was changed.")
