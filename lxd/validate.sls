{#- Every other state of the formula requires this one: a bad pillar fails
    here, naming the key and the reason, before anything is changed. #}
{%- from tpldir ~ "/map.jinja" import defaults, lxd_pillar with context %}

lxd-pillar-valid:
  lxd_pillar.valid:
    - pillar: {{ lxd_pillar | json }}
    - defaults: {{ defaults.lxd | json }}
