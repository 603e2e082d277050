"""
The trust plan: what bringing LXD's trust store to the certificates the
formula wants would change, as steps ``(action, LXD name, old fields,
entry)`` that ``lxd_trust.apply`` runs and the changes a state shows.

Pure functions: the caller reads the trust store and the certificates
wanted (pillar, the mine), and writes the steps.
"""

# Names the formula gives the certificates it trusts: from pillar, and
# for client minions (the certificate each publishes in the mine).
PILLAR_PREFIX = "salt:"
MINION_PREFIX = "salt-minion:"


def projects(given):
    """``restricted`` and ``projects`` for LXD: absent (None) is
    unrestricted, an empty list is no access at all; a comma-separated
    string is accepted as the charm's action takes it."""
    if given is None:
        return False, []
    if isinstance(given, str):
        given = [name.strip() for name in given.split(",") if name.strip()]
    return True, sorted(given)


def written(fields):
    """What LXD takes besides the name and the certificate."""
    return {key: fields[key] for key in ("type", "restricted", "projects")}


def managed(name):
    """Whether the formula trusted the certificate of LXD name ``name``."""
    return name.startswith((PILLAR_PREFIX, MINION_PREFIX))


def fields(cert, name=None):
    """What is compared between a trusted certificate and a wanted one."""
    return {
        "name": name or cert["name"],
        "type": cert["type"],
        "restricted": cert["restricted"],
        "projects": sorted(cert["projects"] or []) if cert["restricted"] else [],
    }


def plan(wanted, current):
    """``{"changes", "steps", "notes"}`` to bring ``current`` (the trust
    store by fingerprint) to ``wanted`` (``lxd_trust.wanted``). A
    certificate whose type changes is removed and added again: current
    daemons refuse to change it in place."""
    certs = wanted["certificates"]
    steps = []
    for name, entry in sorted(certs.items()):
        have = current.get(entry["fingerprint"])
        if have is None:
            steps.append(("add", name, None, entry))
        elif have["type"] != entry["type"]:
            steps.append(("re-add", name, fields(have), entry))
        elif fields(have) != fields(entry, name):
            steps.append(("update", name, fields(have), entry))
    kept = {entry["fingerprint"] for entry in certs.values()}
    for fingerprint, have in sorted(current.items()):
        if fingerprint in kept:
            continue
        if managed(have["name"]) or fingerprint in wanted["unwanted"]:
            steps.append(("remove", have["name"], fields(have), {"fingerprint": fingerprint}))
    return {
        "changes": {name: change(old, entry, name, action) for action, name, old, entry in steps},
        "steps": steps,
        "notes": list(wanted["notes"]),
    }


def change(old, entry, name, action):
    """The change a step shows: fingerprint (its first 12 digits), type and
    projects, before and after."""

    def shown(fields_, fingerprint):
        access = fields_["projects"] if fields_["restricted"] else "all projects"
        return {"fingerprint": fingerprint[:12], "type": fields_["type"], "projects": access}

    fingerprint = entry["fingerprint"]
    shown_change = {
        "old": shown(old, fingerprint) if old else None,
        "new": None if action == "remove" else shown(fields(entry, name), fingerprint),
    }
    if action == "re-add":
        shown_change["how"] = f"type {old['type']} -> {entry['type']}: removed and re-added"
    return shown_change
