"""
saltext-lxd: the lxd-formula's execution modules (``modules``), states
(``states``) and runners (``runners``) as a Salt extension, with the
formula's defaults (``parameters/defaults.yaml``). Salt finds them through
the ``salt.loader`` entry point; the SLS files stay in the formula.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("saltext-lxd")
except PackageNotFoundError:  # a checkout, not an installed package
    __version__ = None
