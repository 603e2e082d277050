{#- salt-run state.orchestrate lxd.cluster.upgrade [pillar='{"lxd_cluster": "<name>", "lxd_upgrade_timeout": 600}']

    Roll a change of lxd:install:channel through every LXD cluster in
    pillar (or only the one named), one member at a time, so members never
    run different LXD versions longer than needed (`state.apply lxd`
    leaves a cluster member's channel alone):
    1. the cluster must be healthy before anything is refreshed: every
       member's own daemon answers and sees every member Online or
       Evacuated (checked once, on every cluster minion);
    2. for each member due, by minion id: refresh its snap (with the
       cohort), then wait, up to lxd_upgrade_timeout seconds, until every
       minion sees the cluster healthy again; only then the next member.
    While members are still due, LXD's "Blocked" status of a member still
    due, and the held start of a member already refreshed, are the expected
    transient of a schema change (see lxd_cluster_rules.health_problems). A
    failing check stops the roll: later members are not touched.
    The plan comes from the lxd_cluster runner (salt-run lxd_cluster.upgrade_plan). #}
{#- lxd_orchestrate runs the runner as saltutil.runner would, closing its
    client #}
{%- set plan = salt["lxd_orchestrate.upgrade_plan"](cluster=salt["pillar.get"]("lxd_cluster")) %}
{%- set timeout = salt["pillar.get"]("lxd_upgrade_timeout", 600) %}

{%- for error in plan.errors %}

lxd-upgrade-plan-error-{{ loop.index }}:
  test.configurable_test_state:
    - name: {{ error | json }}
    - changes: false
    - result: false
    - comment: {{ error | json }}
    - allow_test_mode_failure: true
{%- endfor %}

{%- for cluster in plan.clusters %}
{%- set id = "lxd-upgrade-" ~ cluster.name %}
{%- set due = cluster.due | map(attribute="member") | list %}

{{ id }}-healthy:
  salt.state:
    - tgt: {{ cluster.minions | json }}
    - tgt_type: list
    - sls: lxd.cluster.healthy
    - pillar: {lxd_upgrade: {due: {{ due | json }}, timeout: 0}}

{%- for step in cluster.due %}
{%- set checked = id ~ ("-healthy" if loop.first else "-" ~ loop.previtem.minion ~ "-healthy") %}

{{ id }}-{{ step.minion }}-refreshed:
  salt.state:
    - tgt: {{ step.minion }}
    - sls: lxd.cluster.refresh
    - require:
      - salt: {{ checked }}

{{ id }}-{{ step.minion }}-healthy:
  salt.state:
    - tgt: {{ cluster.minions | json }}
    - tgt_type: list
    - sls: lxd.cluster.healthy
    - pillar: {lxd_upgrade: {due: {{ due[loop.index:] | json }}, timeout: {{ timeout }}}}
    - require:
      - salt: {{ id }}-{{ step.minion }}-refreshed
{%- endfor %}
{%- endfor %}
