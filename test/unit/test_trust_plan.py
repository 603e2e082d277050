"""The trust plan (_utils/lxd_trust_plan.py), pure: from the certificates
wanted and the trust store as LXD lists it, the steps and the changes a
state shows."""

import lxd_trust_plan

PEM = "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"


def trusted(name, kind="client", projects=None):
    return {"name": name, "type": kind, "restricted": projects is not None,
            "projects": projects or []}


def wanted_entry(fingerprint, kind="client", projects=None):
    restricted, listed = lxd_trust_plan.projects(projects)
    return {"pem": PEM, "fingerprint": fingerprint, "type": kind,
            "restricted": restricted, "projects": listed}


def test_projects_none_is_all_an_empty_list_none_a_string_is_split():
    assert lxd_trust_plan.projects(None) == (False, [])
    assert lxd_trust_plan.projects([]) == (True, [])
    assert lxd_trust_plan.projects("web, ci,") == (True, ["ci", "web"])


def test_add_update_re_add_and_remove_only_what_the_formula_trusted():
    current = {
        "aa" * 32: trusted("salt:ci", projects=["ci"]),
        "bb" * 32: trusted("salt:prom"),
        "cc" * 32: trusted("salt:gone"),
        "dd" * 32: trusted("by-hand"),
    }
    wanted = {
        "certificates": {
            "salt:ci": wanted_entry("aa" * 32, projects=["ci", "web"]),
            "salt:prom": wanted_entry("bb" * 32, kind="metrics"),
            "salt-minion:m1": wanted_entry("ee" * 32),
        },
        "unwanted": [],
        "notes": ["a note"],
    }
    plan = lxd_trust_plan.plan(wanted, current)
    assert [(action, name) for action, name, _, _ in plan["steps"]] == [
        ("add", "salt-minion:m1"), ("update", "salt:ci"), ("re-add", "salt:prom"),
        ("remove", "salt:gone"),
    ]
    assert plan["changes"]["salt:prom"] == {
        "old": {"fingerprint": "bb" * 6, "type": "client", "projects": "all projects"},
        "new": {"fingerprint": "bb" * 6, "type": "metrics", "projects": "all projects"},
        "how": "type client -> metrics: removed and re-added",
    }
    assert plan["changes"]["salt:gone"]["new"] is None
    assert plan["notes"] == ["a note"]


def test_a_certificate_trusted_by_hand_goes_only_when_pillar_revokes_it():
    current = {"dd" * 32: trusted("by-hand")}
    kept = {"certificates": {}, "unwanted": [], "notes": []}
    assert lxd_trust_plan.plan(kept, current)["steps"] == []
    revoked = dict(kept, unwanted=["dd" * 32])
    assert [step[0] for step in lxd_trust_plan.plan(revoked, current)["steps"]] == ["remove"]
