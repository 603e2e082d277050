{#- Master reactor for 'salt/key' events: when a minion's key is deleted,
    remove its LXD cluster member (lxd:cluster:remove_on_key_delete) and
    flush its mine data; and stop trusting it as an LXD client. See
    README.rst, "Removing members" and "Trusted clients". #}
{%- if data.get("act") == "delete" and data.get("id") %}

lxd-cluster-member-of-deleted-key-removed:
  runner.lxd_cluster.on_key_deleted:
    - args:
      - minion: {{ data["id"] | json }}

lxd-client-of-deleted-key-revoked:
  runner.lxd_trust.revoke:
    - args:
      - minion: {{ data["id"] | json }}
{%- endif %}
