"""The package's version is the formula's: FORMULA's ``version`` (one place,
read when the package is built)."""

import re
from pathlib import Path

from setuptools import setup

FORMULA = Path(__file__).resolve().parent / "FORMULA"
setup(version=re.search(r"^version: *(\S+)$", FORMULA.read_text(), re.M).group(1))
