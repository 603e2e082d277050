{#- On a joiner (pillar lxd_form: bootstrap, joiners, run): once installed
    and tuned, wait for the join offer of the bootstrap member, join, and
    report to it; a joiner that cannot join (or was not prepared) reports
    that instead, so that the next one's turn comes. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}
{%- set form = salt["pillar.get"]("lxd_form") %}
{%- set position = (form.joiners | map(attribute="minion") | list).index(grains.id) %}

include:
  - {{ tplroot }}.validate
  - {{ tplroot }}.install
  - {{ tplroot }}.tuning
  {#- its certificate is the cluster's once joined #}
  - {{ tplroot }}.facts

lxd-cluster-joined:
  lxd_join.joined:
    - name: {{ lxd.cluster.name | json }}
    - member: {{ grains.id }}
    - coordinator: {{ form.bootstrap }}
    - run: {{ form.run | json }}
    {#- its wait for the offer is bounded by the turns before its own #}
    - position: {{ position }}
    - address: {{ lxd.addresses.cluster | json }}
    - init: {{ lxd.init | json }}
    - token_expiry: {{ lxd.cluster.token_expiry | json }}
    - require:
      - sls: {{ tplroot }}.validate
      - sls: {{ tplroot }}.install
      - sls: {{ tplroot }}.tuning

lxd-cluster-join-declined:
  lxd_join.join_declined:
    - name: {{ lxd.cluster.name | json }}
    - coordinator: {{ form.bootstrap }}
    - run: {{ form.run | json }}
    - onfail:
      - lxd_join: lxd-cluster-joined

extend:
  lxd-server-published:
    lxd_mine.published:
      - require:
        - lxd_join: lxd-cluster-joined
