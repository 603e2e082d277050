{#- On the bootstrap member, after the joins (also failed ones): no token
    or mine offer for any joiner is left (pillar lxd_form: joiners). #}
{%- set form = salt["pillar.get"]("lxd_form") %}
{%- for joiner in form.joiners %}

lxd-cluster-join-offer-withdrawn-{{ joiner.minion }}:
  lxd_cluster.join_offer_withdrawn:
    - name: {{ joiner.member }}
    - minion: {{ joiner.minion }}
{%- endfor %}
