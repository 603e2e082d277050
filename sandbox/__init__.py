"""The sandbox and the benchmark: run from the repository root as
``python -m sandbox.sandbox`` and ``python -m sandbox.benchmark``."""
