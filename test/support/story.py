"""Story modules: tests that build on what the module's earlier tests did
(a cluster formed, then grown, then a member removed). The module-scoped
fixture object that owns the story's state is a Story; a later test names
the earlier ones it needs (``story.needs(...)``, and why in its
docstring): run alone, or after one of them failed, it is skipped saying
which, instead of failing on state it never had. Test order is the order
in the file (pytest's own)."""

import pytest


class Story:
    """The tests of a story module that passed so far (recorded by the
    ``pytest_runtest_makereport`` hook in test/conftest.py)."""

    def __init__(self):
        self.passed = set()

    def needs(self, *tests):
        """Skip the calling test unless ``tests`` (names of this module's
        test functions) passed before it, on this fixture object."""
        missing = [test for test in tests if test not in self.passed]
        if missing:
            pytest.skip(f"a later step of this module's story: needs {', '.join(missing)} "
                        f"to have passed first (run the whole module)")


def record_passed(item, report):
    """Mark ``item``'s test as passed on every Story among its fixtures."""
    if report.when != "call" or not report.passed:
        return
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, Story):
            value.passed.add(item.originalname)
