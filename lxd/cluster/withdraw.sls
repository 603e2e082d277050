{#- On the bootstrap member, when a join (or the first step) failed: no
    unused join token for any joiner is left valid, and no offer in this
    minion's mine (pillar lxd_form: joiners, a list of {member, minion}). #}
{%- set form = salt["pillar.get"]("lxd_form") %}
{%- for joiner in form.joiners %}

lxd-cluster-join-offer-withdrawn-{{ joiner.minion }}:
  lxd_cluster.join_offer_withdrawn:
    - name: {{ joiner.member }}
    - minion: {{ joiner.minion }}
{%- endfor %}
