{#- On the bootstrap member, once the cluster is bootstrapped: a join token
    for each joiner, each in a mine entry of its own readable by that joiner
    only (pillar lxd_form: joiners, a list of {member, minion}). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- set form = salt["pillar.get"]("lxd_form") %}

include:
  - {{ tplroot }}.cluster.bootstrap
{%- for joiner in form.joiners %}

lxd-cluster-join-offered-{{ joiner.minion }}:
  lxd_cluster.join_offered:
    - name: {{ joiner.member }}
    - minion: {{ joiner.minion }}
    - require:
      - lxd_cluster: lxd-cluster-bootstrapped
{%- endfor %}
