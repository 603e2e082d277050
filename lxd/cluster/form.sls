{#- First step of the lxd.cluster orchestrate, on every minion of a cluster
    at once (pillar lxd_form: bootstrap, joiners): the host prepared as by
    state.apply lxd; the bootstrap member also bootstraps the cluster and
    offers each joiner its join token. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- set form = salt["pillar.get"]("lxd_form") %}

include:
  - {{ tplroot }}
{%- if grains.id == form.bootstrap %}
  - {{ tplroot }}.cluster.offer
{%- endif %}
