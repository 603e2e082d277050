{#- Debugging aid, the charm's lxd-binary / lxd-snap resources: a LXD binary
    the snap runs instead of its own, and/or a whole snap installed
    --dangerous, from lxd:sideload. An empty file removes the sideload. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}

include:
  - lxd.validate
  - lxd.install.snap

lxd-sideload:
  lxd_sideload.applied:
    - name: {{ lxd.install.snap | json }}
    - binary: {{ lxd.sideload.binary | json }}
    - snap: {{ lxd.sideload.snap | json }}
    - binary_path: {{ lxd.files.sideload_binary | json }}
    {#- where a removed snap sideload goes back to #}
    - channel: {{ lxd.install.channel | json }}
    - cohort: {{ lxd.mode == "cluster" and lxd.install.cohort }}
    - command_timeout: {{ lxd.timeouts.command | json }}
    - require:
      - lxd_pillar: lxd-pillar-valid
      - lxd_snap: lxd-snap
