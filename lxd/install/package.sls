{#- LXD (or Incus, lxd:backend) from the distribution's packages, with what
    its bridges need (lxd:install:extra_packages), run by the init system;
    lxd:install:backports adds the release's backports first (Incus on
    Debian 12). #}
{%- set tplroot = tpldir.split("/")[0] %}
{%- from tplroot ~ "/map.jinja" import lxd with context %}
{%- set backports = lxd.install.backports %}
{#- a malformed list is lxd-pillar-valid's to name: render without it #}
{%- set extra = lxd.install.extra_packages
      if lxd.install.extra_packages is iterable and lxd.install.extra_packages is not string
      else [] %}

include:
  - lxd.validate

{%- if backports %}
{%- set mirror = backports if backports is string else "http://deb.debian.org/debian" %}
{%- set suite = grains.oscodename ~ "-backports" %}
{#- signed by Debian's archive keyring, named: Debian 13 has no apt-key, and
    Salt refuses a source with neither signed-by nor trusted there #}
{%- set keyring = "/usr/share/keyrings/debian-archive-keyring.gpg" %}

lxd-backports:
  pkgrepo.managed:
    - name: {{ ("deb [signed-by=" ~ keyring ~ "] " ~ mirror ~ " " ~ suite ~ " main") | json }}
    - file: /etc/apt/sources.list.d/{{ suite }}.list
    - require:
      - lxd_pillar: lxd-pillar-valid
{%- endif %}

lxd-package:
  pkg.installed:
    - pkgs: {{ ([lxd.install.package] + extra | list) | json }}
{%- if backports %}
    - fromrepo: {{ suite }}
{%- endif %}
    - require:
      - lxd_pillar: lxd-pillar-valid
{%- if backports %}
      - pkgrepo: lxd-backports
{%- endif %}

lxd-service:
  service.running:
    - name: {{ lxd.install.service | json }}
    - enable: true
    - require:
      - pkg: lxd-package
