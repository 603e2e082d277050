{#- What clients need to connect to this host (certificate, fingerprint,
    https and metrics addresses), in the mine as lxd_server: read by client
    minions (lxd_trust.servers) and by the lxd_trust runner. #}
{%- set tplroot = tpldir.split("/")[0] %}

include:
  - {{ tplroot }}.validate
  - {{ tplroot }}.listen

lxd-server-published:
  lxd_mine.published:
    - name: lxd_server
    - function: lxd_trust.connection_facts
    - require:
      - lxd_pillar: lxd-pillar-valid
      - lxd: lxd-listeners
