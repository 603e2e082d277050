{#- A cluster host publishes who it is in its cluster (mine entry
    lxd_cluster), so that its member can be found and removed even after
    its minion is gone. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}

include:
  - {{ tplroot }}.validate

lxd-cluster-identity-published:
  lxd_cluster.identity_published:
    - name: {{ lxd.cluster.name }}
    - require:
      - lxd_pillar: lxd-pillar-valid
