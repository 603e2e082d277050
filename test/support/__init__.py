"""What the tests and the sandbox share: real daemons (daemons.py), the
formula as Salt loads it (formula.py), clusters of minions (clusters.py),
pillars of simulated hosts (pillars.py), images (images.py), the hosts
tier's machines (hostlab.py), bounded waits (waiting.py), plain-module
loading of the formula's code (modules.py) and ordered story modules
(story.py). Imported as ``test.support.<module>`` from the repository root:
pytest.ini sets ``pythonpath = .``, the sandbox runs as ``python -m``."""
