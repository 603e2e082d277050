{#- Storage pools, networks, profiles and projects (lxd:storage_pools,
    lxd:networks, lxd:profiles, lxd:projects), kept on every run once LXD
    is initialised: init is the one-shot preseed, these are the ongoing
    truth. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}

include:
  - {{ tplroot }}.validate
  - {{ tplroot }}.install
{%- if lxd.mode == "standalone" %}
  - {{ tplroot }}.initialise
{%- endif %}

lxd-resources:
  lxd_resources.managed:
    - resources: {{ dict(storage_pools=lxd.storage_pools, networks=lxd.networks,
                         profiles=lxd.profiles, projects=lxd.projects) | json }}
    - mode: {{ lxd.mode | json }}
    - require:
      - lxd_pillar: lxd-pillar-valid
      - sls: {{ tplroot }}.install
{%- if lxd.mode == "standalone" %}
      - lxd: lxd-initialised
{%- endif %}
