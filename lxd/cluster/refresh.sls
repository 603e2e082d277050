{#- On one member, from the lxd.cluster.upgrade orchestrate: its LXD snap
    refreshed to lxd:install:channel (with the cohort). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}

include:
  - {{ tplroot }}.validate

lxd-cluster-member-refreshed:
  lxd_cluster.member_refreshed:
    - name: {{ grains.id }}
    - snap: {{ lxd.install.snap | json }}
    - channel: {{ lxd.install.channel | json }}
    - cohort: {{ lxd.install.cohort | json }}
    - require:
      - lxd_pillar: lxd-pillar-valid
