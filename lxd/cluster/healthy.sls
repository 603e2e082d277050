{#- On every member, from the lxd.cluster.upgrade orchestrate: the cluster
    is healthy as this member sees it (pillar lxd_upgrade: due, the members
    still to refresh; timeout, seconds to wait for it). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}
{%- set upgrade = salt["pillar.get"]("lxd_upgrade", {}) %}

include:
  - {{ tplroot }}.validate

lxd-cluster-healthy:
  lxd_cluster.healthy:
    - name: {{ lxd.cluster.name | json }}
    - due: {{ upgrade.get("due", []) | json }}
    - timeout: {{ upgrade.get("timeout", 0) }}
    - require:
      - lxd_pillar: lxd-pillar-valid
