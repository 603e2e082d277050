{#- On a cluster member: a join token for the next joiner, in a mine entry
    of its own readable by that joiner only (pillar lxd_offer: member,
    minion). The lxd.cluster orchestrate issues it right before that join:
    on the bootstrap member for the first joiner, then on each joiner, once
    joined, for the one after it. #}
{%- set offer = salt["pillar.get"]("lxd_offer") %}

lxd-cluster-join-offered:
  lxd_cluster.join_offered:
    - name: {{ offer.member }}
    - minion: {{ offer.minion }}
