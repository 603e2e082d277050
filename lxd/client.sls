{#- salt 'ci*' state.apply lxd.client: a minion that uses LXD hosts. Its
    key and certificate are made here and the key never leaves it; the
    certificate goes to the mine, where the LXD hosts of lxd:client:cluster
    find it and trust it (salt-minion:<id>). Their connection facts come
    back: salt-call lxd_trust.servers. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}

include:
  - {{ tplroot }}.validate

lxd-client-key:
  x509.private_key_managed:
    - name: {{ lxd.client.key | json }}
    - algo: ec
    - keysize: 384
    - mode: "0600"
    - makedirs: true
    - require:
      - lxd_pillar: lxd-pillar-valid

lxd-client-certificate:
  x509.certificate_managed:
    - name: {{ lxd.client.cert | json }}
    - signing_private_key: {{ lxd.client.key | json }}
    - CN: {{ grains.id }}
    - extendedKeyUsage: clientAuth
    - days_valid: 3650
    - days_remaining: 30
    - mode: "0644"
    - require:
      - x509: lxd-client-key

lxd-client-request-published:
  lxd_mine.published:
    - name: lxd_client
    - function: lxd_trust.request
    - require:
      - x509: lxd-client-certificate
