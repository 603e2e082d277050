{#- The first configuration of a standalone daemon, once. #}
{%- from tpldir ~ "/map.jinja" import lxd with context %}

include:
  - lxd.validate
  - lxd.install

lxd-initialised:
  lxd.initialised:
    - mode: {{ lxd.mode | json }}
    - init: {{ lxd.init | json }}
    - require:
      - lxd_pillar: lxd-pillar-valid
      - sls: lxd.install
