"""
The names the formula gives things that more than one module reads: mine
entries (written on one minion, read on others or on the master), the mark
on LXD objects it manages, the snap store's channel risks.
"""

# The join chain (lxd_join publishes, the joiner and the runner read): the
# coordinator's offer to one joiner, readable by that joiner only ...
MINE_JOIN_OFFER = "lxd_join_offer_{minion}"
MINE_JOIN_OFFER_PREFIX = MINE_JOIN_OFFER.split("{", 1)[0]
# ... and the joiner's report of its join, readable by the coordinator.
MINE_JOIN_REPORT = "lxd_join_report"
# Trust: a client's certificate request, and a server's address and CA.
MINE_CLIENT_REQUEST = "lxd_client"
MINE_SERVER = "lxd_server"

# The config key on every storage pool, network, profile and project the
# formula made (its value lists the config keys it manages): objects
# without it were made by hand and are left alone.
MANAGED_MARKER = "user.salt.managed"

# The snap store's risk levels, most stable first.
SNAP_RISKS = ("stable", "candidate", "beta", "edge")
