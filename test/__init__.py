"""The formula's tests. A package so that ``test.support`` is this
repository's (pytest.ini puts the checkout on sys.path, ahead of the
standard library's own ``test`` package)."""
