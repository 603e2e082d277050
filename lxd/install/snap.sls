{#- LXD from the snap store: channel, cohort (cluster mode), refresh hold,
    and every lxd:snap_config key in one `snap set`. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}

include:
  - lxd.validate

lxd-snapd:
  pkg.installed:
    - name: snapd
    - unless: command -v snap
    - require:
      - lxd_pillar: lxd-pillar-valid

lxd-snap:
  snap.installed:
    - name: {{ lxd.install.snap }}
    - channel: {{ lxd.install.channel }}
    - cohort: {{ lxd.mode == "cluster" and lxd.install.cohort }}
    - hold: {{ lxd.install.hold }}
    {#- cluster members must not all refresh at once: a channel change is
        rolled out by the lxd.cluster.upgrade orchestrate, one at a time #}
    - refresh: {{ lxd.mode != "cluster" }}
    - require:
      - pkg: lxd-snapd

lxd-snap-config:
  snap.configured:
    - name: {{ lxd.install.snap }}
    - config: {{ lxd.snap_config | json }}
    {#- LXCFS reads its settings at start only and cannot be restarted
        under running instances: lxcfs.* wait for the next boot. #}
    - reboot_keys: ["lxcfs."]
    - require:
      - snap: lxd-snap
