{#- LXD from the snap store: channel, cohort (cluster mode), refresh hold,
    and every lxd:snap_config key in one `snap set`. #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}

include:
  - lxd.validate

{#- inside a container snapd mounts snaps with squashfuse, and its self-test
    fails ("the fuse filesystem is required") unless FUSE is there when it
    starts: installed first (in containers only: fuse3 replaces fuse 2) #}
lxd-snapd-fuse:
  pkg.installed:
    - pkgs: [squashfuse, fuse3]
    - onlyif: systemd-detect-virt --quiet --container
    - unless: command -v snap
    - require:
      - lxd_pillar: lxd-pillar-valid

lxd-snapd:
  pkg.installed:
    - name: snapd
    - unless: command -v snap
    - require:
      - pkg: lxd-snapd-fuse

lxd-snap:
  lxd_snap.installed:
    - name: {{ lxd.install.snap | json }}
    - channel: {{ lxd.install.channel | json }}
    - cohort: {{ lxd.mode == "cluster" and lxd.install.cohort }}
    - hold: {{ lxd.install.hold | json }}
    {#- cluster members must not all refresh at once: a channel change is
        rolled out by the lxd.cluster.upgrade orchestrate, one at a time #}
    - refresh: {{ lxd.mode != "cluster" }}
    - timeout: {{ lxd.timeouts.command | json }}
    - require:
      - pkg: lxd-snapd

{#- a distribution package's LXD with data (validation refuses it where
    lxd.migrate cannot run): moved into the snap, as the charm does. The
    path is pillar data: checked by a Salt function, never by a shell. #}
lxd-deb-migrated:
  cmd.run:
    - name: /snap/bin/lxd.migrate -yes
    - onlyif:
      - fun: file.directory_exists
        path: {{ (lxd.files.deb_data ~ "/database") | json }}
    - timeout: {{ lxd.timeouts.command | json }}
    - require:
      - lxd_snap: lxd-snap

lxd-snap-config:
  lxd_snap.configured:
    - name: {{ lxd.install.snap | json }}
    - config: {{ lxd.snap_config | json }}
    {#- LXCFS reads its settings at start only and cannot be restarted
        under running instances: lxcfs.* wait for the next boot. #}
    - reboot_keys: ["lxcfs."]
    {#- the snap's configure hook only writes the config: the daemon reads
        it when it starts, so a reload (instances keep running) applies it #}
    - reload: daemon
    - timeout: {{ lxd.timeouts.command | json }}
    - require:
      - lxd_snap: lxd-snap
