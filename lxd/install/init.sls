{#- Install LXD (lxd:install:method) and check the daemon answers. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}

include:
  - lxd.validate
{%- if lxd.install.method in ("snap", "package") %}
  - lxd.install.{{ lxd.install.method }}
{%- endif %}
{%- if lxd.install.method == "snap" %}
  - lxd.install.sideload
{%- endif %}

lxd-daemon-reachable:
  lxd.reachable:
    - require:
      - lxd_pillar: lxd-pillar-valid
{%- if lxd.install.method in ("snap", "package") %}
      - sls: lxd.install.{{ lxd.install.method }}
{%- endif %}
{%- if lxd.install.method == "snap" %}
      - lxd_sideload: lxd-sideload
{%- endif %}
