{#- A cluster host publishes who it is in its cluster (mine entry
    lxd_cluster), so that its member can be found and removed even after
    its minion is gone. #}
{%- set tplroot = tpldir.split("/")[0] %}

include:
  - {{ tplroot }}.validate

lxd-cluster-identity-published:
  lxd_mine.published:
    - name: lxd_cluster
    - function: lxd_cluster.identity
    - require:
      - lxd_pillar: lxd-pillar-valid
