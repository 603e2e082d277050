{#- salt '*' state.apply lxd: a tuned LXD host, initialised when standalone
    (cluster members are initialised by the lxd.cluster orchestrate; once
    members, each keeps its join tokens short-lived), with
    its storage pools, networks, profiles and projects, listeners, proxy
    settings and trusted clients. #}
{%- from tpldir ~ "/map.jinja" import lxd with context %}

include:
  - lxd.validate
  - lxd.install
  - lxd.tuning
{%- if lxd.mode == "standalone" %}
  - lxd.initialise
{%- else %}
  - lxd.cluster.member
{%- endif %}
  - lxd.resources
  - lxd.listen
  - lxd.proxy
  - lxd.trust
  - lxd.facts
