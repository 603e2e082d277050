{#- The lxd.cluster orchestrate's one job, on every minion of a cluster at
    once (pillar lxd_form: bootstrap, joiners [{minion, member}] in the
    order they join, run): each host prepared as by state.apply lxd; the
    bootstrap member bootstraps the cluster (or is an online member of it)
    and offers each joiner its join token in turn (lxd.cluster.offer); each
    joiner, once prepared, waits for its offer and joins (lxd.cluster.join). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- set form = salt["pillar.get"]("lxd_form") %}
{%- set joining = form.joiners | map(attribute="minion") | list %}

include:
  - {{ tplroot }}
{%- if grains.id == form.bootstrap %}
  - {{ tplroot }}.cluster.bootstrap
{%- if joining %}
  - {{ tplroot }}.cluster.offer
{%- endif %}
{%- elif grains.id in joining %}
  - {{ tplroot }}.cluster.join
{%- endif %}
