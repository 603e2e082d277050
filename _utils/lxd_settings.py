"""
The formula's settings, one copy for the minion's modules and the master's
runners: its parameters (``lxd/parameters/defaults.yaml``), the defaults
they give a backend, and a pillar merged over them.

Pure functions: the caller fetches the parameters where the package has no
copy of them (``cp.get_file_str`` on a minion, the fileserver on the
master), because only it has a channel to the master.
"""

import copy
import os

import salt.utils.files
import salt.utils.yaml

try:  # installed as the saltext-lxd package
    from saltext.lxd.utils.lxd_backends import BACKENDS
except ImportError:  # synced from _utils: Salt puts the utils directories on sys.path
    from lxd_backends import BACKENDS

PARAMETERS_URL = "salt://lxd/parameters/defaults.yaml"
# Where a run keeps the parameters once read (its __context__).
PARAMETERS_KEY = "lxd_pillar.defaults"
# The saltext-lxd package carries the same file beside its utils/ directory:
# the defaults of the code that reads them, and no request to the master.
# Synced from file_roots, there is no package around this file.
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGED_PARAMETERS = os.path.join(PACKAGE_DIR, "parameters", "defaults.yaml")
DEFAULT_BACKEND = "lxd"
# LXD's expiry units (shared.GetExpiry), in seconds at most: a month and a
# year as their longest, so that a bound is never too tight.
EXPIRY_UNITS = {"S": 1, "M": 60, "H": 3600, "d": 86400, "w": 7 * 86400,
                "m": 31 * 86400, "y": 366 * 86400}


def packaged_parameters():
    """The parameters the saltext-lxd package carries, or None when this
    code was synced from file_roots (then the master serves them)."""
    if not os.path.isfile(os.path.join(PACKAGE_DIR, "__init__.py")):
        return None
    try:
        with salt.utils.files.fopen(PACKAGED_PARAMETERS) as packaged:
            return parse(packaged.read())
    except OSError:
        return None


def parameters(context, get_file_str):
    """parameters/defaults.yaml, read once per run and kept in ``context``
    (every SLS file of a state run renders map.jinja): the saltext-lxd
    package's own copy when the modules come from it, else the master's,
    fetched with ``get_file_str`` (``cp.get_file_str``)."""
    if PARAMETERS_KEY not in context:
        found = packaged_parameters()
        if found is None:
            found = parse(get_file_str(PARAMETERS_URL))
        context[PARAMETERS_KEY] = found
    return context[PARAMETERS_KEY]


def use_parameters(context, parameters):
    """Take ``parameters`` as the formula's defaults for the rest of this run,
    instead of fetching them: the lxd_cluster runner sends them with the
    status job it runs on every cluster minion, where a fetch would cost
    each minion a new channel to the master."""
    context[PARAMETERS_KEY] = parameters


def minion_settings(context, salt):
    """The settings a minion's module runs with (what ``lxd_pillar.merge``
    returns), resolved once per module where a module needs them: with
    ``context`` and ``salt`` the module's ``__context__`` and ``__salt__``."""
    return settings(parameters(context, salt["cp.get_file_str"]), salt["config.get"]("lxd", {}))


def parse(text):
    """The parameters in ``text`` (YAML), or {} for none."""
    return (salt.utils.yaml.safe_load(text) or {}) if text else {}


def backend_of(pillar):
    """The backend a pillar asks for; an unknown one counts as the default
    until validation reports it."""
    backend = pillar.get("backend") if isinstance(pillar, dict) else None
    # a list or mapping given is no backend (and no key of the table)
    return backend if isinstance(backend, str) and backend in BACKENDS else DEFAULT_BACKEND


def defaults(parameters, backend=DEFAULT_BACKEND):
    """The defaults for ``backend``: the parameters' ``lxd`` section with the
    backend's own section merged over it."""
    merged = copy.deepcopy(parameters.get("lxd", {}))
    if backend != DEFAULT_BACKEND and backend in parameters:
        merged = merge(merged, copy.deepcopy(parameters[backend]))
    return merged


def merge(defaults_, pillar):
    """``pillar`` merged over ``defaults_``. Where the pillar gives a value of
    the wrong type for a mapping, the default is kept, so that templates
    always render; validation reports the bad value."""
    if not isinstance(pillar, dict):
        return dict(defaults_)
    merged = dict(defaults_)
    for key, value in pillar.items():
        if isinstance(defaults_.get(key), dict):
            value = merge(defaults_[key], value) if isinstance(value, dict) else defaults_[key]
        merged[key] = value
    return merged


def settings(parameters, pillar):
    """The formula's settings for a minion: its ``lxd`` pillar merged over
    the defaults of the backend that pillar asks for."""
    return merge(defaults(parameters, backend_of(pillar)), pillar)


def expiry_seconds(expiry):
    """The longest time, in seconds, that an LXD expiry such as ``15M`` or
    ``1d 12H`` can mean."""
    return sum(int(part[:-1]) * EXPIRY_UNITS[part[-1]] for part in expiry.split())
