"""
What the ``lxd_snap`` module knows of snapd without running it: channel
names, version order, and how to read ``snap list``, ``snap info``,
``snap version`` and ``snap get -d``. Pure functions.
"""

import re

from salt.utils.versions import LooseVersion

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils.lxd_names import SNAP_RISKS
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    from lxd_names import SNAP_RISKS

# refresh --hold: 2.58; the hold shown by snap list (the `held` note): 2.58.1
HOLD_SNAPD = "2.58.1"
# what `snap info` shows for a closed channel, or one that follows the one above
NO_VERSION = ("--", "^", "↑")


def normalise_channel(channel):
    """``channel`` as ``track/risk[/branch]``: ``stable`` becomes
    ``latest/stable``, ``5.21`` becomes ``5.21/stable``."""
    parts = channel.split("/")
    if len(parts) == 1:
        return f"latest/{parts[0]}" if parts[0] in SNAP_RISKS else f"{parts[0]}/stable"
    if parts[0] in SNAP_RISKS:
        return "/".join(["latest"] + parts)
    return channel


def numeric(version):
    """``5.21.1-d46c406`` -> ``5.21.1``; git-describe suffixes don't order."""
    match = re.match(r"^[0-9]+(\.[0-9]+)*", version)
    return match.group(0) if match else version


def older(version, than):
    """Whether snap version ``version`` comes before ``than``."""
    return LooseVersion(numeric(version)) < LooseVersion(numeric(than))


def holds_supported(snapd_version):
    """Whether this snapd can hold one snap's refreshes and show it."""
    return not older(snapd_version, HOLD_SNAPD)


def listed(stdout, name):
    """Snap ``name`` as ``snap list NAME --unicode=never`` shows it: version,
    revision, channel, held and cohort notes; None when it is not listed."""
    for line in stdout.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == name:
            notes = (fields[5] if len(fields) > 5 else "-").split(",")
            return {
                "name": name,
                "version": fields[1],
                "revision": fields[2],
                "channel": fields[3],
                "held": "held" in notes,
                "cohort": "in-cohort" in notes,
            }
    return None


def snapd_version(stdout):
    """snapd's version from ``snap version``: the client's when the daemon
    does not answer."""
    versions = {}
    for line in stdout.splitlines():
        key, _, value = line.partition(" ")
        versions[key] = value.strip()
    daemon = versions.get("snapd", "unavailable")
    return versions.get("snap", "") if daemon == "unavailable" else daemon


def channel_version(stdout, channel):
    """The version ``snap info --unicode=never`` lists for ``channel``; None
    when the channel is closed or not listed."""
    wanted = normalise_channel(channel)
    listing = stdout.partition("\nchannels:\n")[2]
    for line in listing.splitlines():
        match = re.match(r"^\s+([^\s:]+):\s+(\S+)", line)
        if match and normalise_channel(match.group(1)) == wanted:
            version = match.group(2)
            return None if version in NO_VERSION else version
    return None


def config_value(value):
    """``value`` as snapd stores it: booleans as ``true`` / ``false``,
    everything else as its string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def flattened(tree, prefix=""):
    """``snap get -d``'s tree as flat ``key: value`` pairs
    (``daemon.debug: 'true'``), values as strings."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flattened(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = config_value(value)
    return flat


def config_changes(current, config):
    """What setting ``config`` over ``current`` changes, as
    ``{key: {old, new}}``."""
    return {
        key: {"old": current.get(key), "new": config_value(value)}
        for key, value in config.items()
        if current.get(key) != config_value(value)
    }


def waiting_for_reboot(changes, reboot_keys):
    """The ``changes`` to keys starting with one of the ``reboot_keys``
    prefixes: they take effect at the next boot."""
    return {key: change for key, change in changes.items()
            if key.startswith(tuple(reboot_keys or ()))}


def since_boot(earlier, waiting):
    """``waiting`` changes as the pending record keeps them: each ``old`` is
    what ran before the key's first change since boot (``earlier``, the
    record so far)."""
    return {key: {"old": earlier.get(key, change)["old"], "new": change["new"]}
            for key, change in waiting.items()}


def channel_args(channel, cohort):
    """``--channel`` and, to join the ``+`` cohort, ``--cohort=+``."""
    return [f"--channel={channel}"] + (["--cohort=+"] if cohort else [])
