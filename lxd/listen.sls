{#- Network listeners (lxd:listen, lxd:addresses), changed live. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}

include:
  - {{ tplroot }}.validate
  - {{ tplroot }}.install

lxd-listeners:
  lxd.listening:
    - listeners: {{ lxd.listen | json }}
    - addresses: {{ lxd.addresses | json }}
    - require:
      - lxd_pillar: lxd-pillar-valid
      - sls: {{ tplroot }}.install
