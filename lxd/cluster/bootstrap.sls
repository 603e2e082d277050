{#- The member that forms the cluster, or an online member of an existing
    one: first configuration (lxd:init) and clustering, once. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}

include:
  - {{ tplroot }}.validate
  {#- the settings a cluster shares, from its first member #}
  - {{ tplroot }}.proxy
  - {{ tplroot }}.trust
  - {{ tplroot }}.facts

lxd-cluster-bootstrapped:
  lxd_cluster.bootstrapped:
    - name: {{ lxd.cluster.name | json }}
    - member: {{ grains.id }}
    - address: {{ lxd.addresses.cluster | json }}
    - init: {{ lxd.init | json }}
    - token_expiry: {{ lxd.cluster.token_expiry | json }}
    - require:
      - lxd_pillar: lxd-pillar-valid

extend:
  lxd-proxy:
    lxd.proxied:
      - require:
        - lxd_cluster: lxd-cluster-bootstrapped
  lxd-trusted-clients:
    lxd_trust.clients_trusted:
      - require:
        - lxd_cluster: lxd-cluster-bootstrapped
  lxd-server-published:
    lxd_mine.published:
      - require:
        - lxd_cluster: lxd-cluster-bootstrapped
