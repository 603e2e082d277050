{#- On the bootstrap member (pillar lxd_form: joiners, run): the tokens an
    interrupted run left revoked, then each joiner offered its join token
    in turn, right before its join, through a mine entry readable by that
    joiner only; the next token waits for the joiner's report. When the
    joins cannot be offered, every joiner still waiting is told so. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}
{%- set form = salt["pillar.get"]("lxd_form") %}

include:
  - {{ tplroot }}.cluster.bootstrap

lxd-cluster-stale-join-tokens-revoked:
  lxd_join.join_tokens_revoked:
    - name: {{ lxd.cluster.name | json }}
    - require:
      - lxd_cluster: lxd-cluster-bootstrapped

lxd-cluster-joins-offered:
  lxd_join.joins_offered:
    - name: {{ lxd.cluster.name | json }}
    - joiners: {{ form.joiners | json }}
    - run: {{ form.run | json }}
    - require:
      - lxd_join: lxd-cluster-stale-join-tokens-revoked

lxd-cluster-join-offers-refused:
  lxd_join.join_offers_refused:
    - name: {{ lxd.cluster.name | json }}
    - joiners: {{ form.joiners | json }}
    - run: {{ form.run | json }}
    - onfail:
      - lxd_join: lxd-cluster-joins-offered
