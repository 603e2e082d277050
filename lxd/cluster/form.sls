{#- First step of the lxd.cluster orchestrate, on every minion of a cluster
    at once (pillar lxd_form: bootstrap; lxd_offer: the first joiner, if
    any): the host prepared as by state.apply lxd; the bootstrap member also
    bootstraps the cluster and, when there are joiners (the run then holds
    the cluster's lock), revokes the tokens an interrupted run left and
    offers the first joiner its join token. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}
{%- set form = salt["pillar.get"]("lxd_form") %}
{%- set offering = grains.id == form.bootstrap and salt["pillar.get"]("lxd_offer") %}

include:
  - {{ tplroot }}
{%- if grains.id == form.bootstrap %}
  - {{ tplroot }}.cluster.bootstrap
{%- endif %}
{%- if offering %}
  - {{ tplroot }}.cluster.offer

lxd-cluster-stale-join-tokens-revoked:
  lxd_cluster.join_tokens_revoked:
    - name: {{ lxd.cluster.name }}
    - require:
      - lxd_cluster: lxd-cluster-bootstrapped

extend:
  lxd-cluster-join-offered:
    lxd_cluster.join_offered:
      - require:
        - lxd_cluster: lxd-cluster-bootstrapped
        - lxd_cluster: lxd-cluster-stale-join-tokens-revoked
{%- endif %}
