{#- The member that forms the cluster, or an online member of an existing
    one: first configuration (lxd:init) and clustering, once. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}

include:
  - {{ tplroot }}.validate

lxd-cluster-bootstrapped:
  lxd_cluster.bootstrapped:
    - name: {{ lxd.cluster.name }}
    - member: {{ grains.id }}
    - address: {{ lxd.addresses.cluster | json }}
    - init: {{ lxd.init | json }}
    - token_expiry: {{ lxd.cluster.token_expiry | json }}
    - require:
      - lxd_pillar: lxd-pillar-valid
