"""
Values as LXD keeps them in a configuration: pure functions the modules
that compare or write configurations share.
"""


def stringified(mapping):
    """A config (or device) mapping with its values as LXD keeps them:
    strings, booleans as ``true``/``false``."""
    return {str(key): (str(value).lower() if isinstance(value, bool) else str(value))
            for key, value in mapping.items()}
