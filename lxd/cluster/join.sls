{#- On a joiner: join the cluster with the offer the bootstrap member
    published for it (pillar lxd_join: bootstrap). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}
{%- set join = salt["pillar.get"]("lxd_join") %}

include:
  - {{ tplroot }}.validate
  {#- its certificate is now the cluster's #}
  - {{ tplroot }}.facts

lxd-cluster-joined:
  lxd_cluster.joined:
    - name: {{ lxd.cluster.name }}
    - member: {{ grains.id }}
    - bootstrap: {{ join.bootstrap }}
    - address: {{ lxd.addresses.cluster | json }}
    - init: {{ lxd.init | json }}
    - require:
      - lxd_pillar: lxd-pillar-valid

extend:
  lxd-server-published:
    lxd_mine.published:
      - require:
        - lxd_cluster: lxd-cluster-joined
