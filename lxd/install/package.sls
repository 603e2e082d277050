{#- LXD from the distribution's packages, run by the init system. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}

include:
  - lxd.validate

lxd-package:
  pkg.installed:
    - name: {{ lxd.install.package }}
    - require:
      - lxd_pillar: lxd-pillar-valid

lxd-service:
  service.running:
    - name: {{ lxd.install.service }}
    - enable: true
    - require:
      - pkg: lxd-package
