{#- On the bootstrap member: a join token for one joiner, in the mine,
    readable by that joiner only (pillar lxd_join: member, minion). #}
{%- set join = salt["pillar.get"]("lxd_join") %}

lxd-cluster-join-offered:
  lxd_cluster.join_offered:
    - name: {{ join.member }}
    - minion: {{ join.minion }}
