{#- core.proxy_* from lxd:proxy, else the minion's own proxy settings. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}

include:
  - {{ tplroot }}.validate
  - {{ tplroot }}.install

lxd-proxy:
  lxd.proxied:
    - http: {{ lxd.proxy.http | json }}
    - https: {{ lxd.proxy.https | json }}
    - no_proxy: {{ lxd.proxy.no_proxy | json }}
    - mode: {{ lxd.mode | json }}
    - timeout: {{ lxd.timeouts.request | json }}
    - require:
      - lxd_pillar: lxd-pillar-valid
      - sls: {{ tplroot }}.install
