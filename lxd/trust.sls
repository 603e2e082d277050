{#- Trusted clients: lxd:trust:clients and the client minions of this
    host's cluster (lxd.client); then the connection facts those clients
    read back from the mine. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}

include:
  - {{ tplroot }}.validate
  - {{ tplroot }}.install
  - {{ tplroot }}.listen

lxd-trusted-clients:
  lxd_trust.clients_trusted:
    - clients: {{ lxd.trust.clients | json }}
    - cluster: {{ lxd.cluster.name }}
    - metrics: {{ lxd.listen.metrics | json }}
    - mode: {{ lxd.mode }}
    - require:
      - lxd_pillar: lxd-pillar-valid
      - sls: {{ tplroot }}.install

lxd-server-published:
  lxd_mine.published:
    - name: lxd_server
    - function: lxd_trust.connection_facts
    - require:
      - lxd_pillar: lxd-pillar-valid
      - lxd: lxd-listeners
