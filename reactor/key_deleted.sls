{#- Master reactor for 'salt/key' events: when a minion's key is deleted,
    remove its LXD cluster member (lxd:cluster:remove_on_key_delete), flush
    its mine data, and stop trusting it as an LXD client
    (lxd_cluster.on_key_deleted does all three, in that order). See
    docs/cluster.rst, "Shrink", and docs/day2.rst, "Trusted clients". #}
{%- if data.get("act") == "delete" and data.get("id") %}

{#- one runner: the reactor runs its reactions in threads of one process,
    and two runners at once there have been seen to hang one of them #}
lxd-deleted-key-handled:
  runner.lxd_cluster.on_key_deleted:
    - args:
      - minion: {{ data["id"] | json }}
{%- endif %}
