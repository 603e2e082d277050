{#- What every cluster member keeps on its own (state.apply lxd): join
    tokens issued on it, by the formula or by hand (lxc cluster add),
    expire within lxd:cluster:token_expiry. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}

include:
  - {{ tplroot }}.validate
  - {{ tplroot }}.install

lxd-cluster-token-expiry:
  lxd_cluster.token_expiry_kept:
    - name: {{ lxd.cluster.name | json }}
    - token_expiry: {{ lxd.cluster.token_expiry | json }}
    - require:
      - lxd_pillar: lxd-pillar-valid
      - sls: {{ tplroot }}.install
