{#- On the bootstrap member, after a join (or a failed one): no token or
    mine offer for that joiner is left (pillar lxd_join: member). #}
{%- set join = salt["pillar.get"]("lxd_join") %}

lxd-cluster-join-offer-withdrawn:
  lxd_cluster.join_offer_withdrawn:
    - name: {{ join.member }}
