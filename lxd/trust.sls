{#- Trusted clients: lxd:trust:clients and the client minions of this
    host's cluster (lxd.client) that lxd:trust:client_minions allows, who
    read back the connection facts (lxd.facts). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}

include:
  - {{ tplroot }}.validate
  - {{ tplroot }}.install

lxd-trusted-clients:
  lxd_trust.clients_trusted:
    - clients: {{ lxd.trust.clients | json }}
    - client_minions: {{ lxd.trust.client_minions | json }}
    - cluster: {{ lxd.cluster.name | json }}
    - metrics: {{ lxd.listen.metrics | json }}
    - mode: {{ lxd.mode | json }}
    - timeout: {{ lxd.timeouts.request | json }}
    - require:
      - lxd_pillar: lxd-pillar-valid
      - sls: {{ tplroot }}.install
