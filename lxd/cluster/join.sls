{#- On a joiner: join the cluster with the offer minion lxd_join:offered_by
    published for it; once a member, offer the next joiner its token
    (pillar lxd_offer, when there is one). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}
{%- set join = salt["pillar.get"]("lxd_join") %}

include:
  - {{ tplroot }}.validate
  {#- its certificate is now the cluster's #}
  - {{ tplroot }}.facts
{%- if salt["pillar.get"]("lxd_offer") %}
  - {{ tplroot }}.cluster.offer
{%- endif %}

lxd-cluster-joined:
  lxd_cluster.joined:
    - name: {{ lxd.cluster.name }}
    - member: {{ grains.id }}
    - offered_by: {{ join.offered_by }}
    - address: {{ lxd.addresses.cluster | json }}
    - init: {{ lxd.init | json }}
    - require:
      - lxd_pillar: lxd-pillar-valid

extend:
  lxd-server-published:
    lxd_mine.published:
      - require:
        - lxd_cluster: lxd-cluster-joined
{%- if salt["pillar.get"]("lxd_offer") %}
  lxd-cluster-join-offered:
    lxd_cluster.join_offered:
      - require:
        - lxd_cluster: lxd-cluster-joined
{%- endif %}
