{#- Production sysctl values and kernel hardening, applied now and persisted. #}
{%- from tpldir ~ "/map.jinja" import lxd with context %}

include:
  - lxd.validate

lxd-sysctl-tuning:
{%- if lxd.sysctl_tuning %}
  lxd_host.sysctl_tuned:
    - name: {{ lxd.files.sysctl_conf | json }}
    - values: {{ lxd.sysctl | json }}
{%- else %}
  {#- the running kernel keeps the values until the next boot #}
  file.absent:
    - name: {{ lxd.files.sysctl_conf | json }}
{%- endif %}
    - require:
      - lxd_pillar: lxd-pillar-valid

lxd-kernel-hardening:
  lxd_host.{{ "hardened" if lxd.kernel_hardening else "unhardened" }}:
    - name: {{ lxd.files.tmpfiles_conf | json }}
    - paths: {{ lxd.hardening | json }}
    - require:
      - lxd_pillar: lxd-pillar-valid
