{#- salt-run state.orchestrate lxd.cluster [pillar='{"lxd_cluster": "<name>"}']

    Form or grow every LXD cluster in pillar (or only the one named):
    1. every member prepared (state.apply lxd: installed, tuned);
    2. one member bootstrapped: an online member when the cluster exists,
       else lxd:cluster:bootstrap, else the first minion id;
    3. each other minion joins, one at a time: a join token issued for it
       right before, carried to it alone through the mine, withdrawn after.
    The plan comes from the lxd_cluster runner (salt-run lxd_cluster.plan). #}
{%- set plan = salt["saltutil.runner"]("lxd_cluster.plan",
                                       cluster=salt["pillar.get"]("lxd_cluster")) %}

{%- for error in plan.errors %}

lxd-cluster-plan-error-{{ loop.index }}:
  test.fail_without_changes:
    - name: {{ error | json }}
{%- endfor %}

{%- for cluster in plan.clusters %}
{%- set id = "lxd-cluster-" ~ cluster.name %}

{{ id }}-members-prepared:
  salt.state:
    - tgt: {{ cluster.minions | json }}
    - tgt_type: list
    - sls: lxd

{{ id }}-bootstrapped:
  salt.state:
    - tgt: {{ cluster.bootstrap }}
    - sls: lxd.cluster.bootstrap
    - require:
      - salt: {{ id }}-members-prepared

{%- for joiner in cluster.joiners %}
{%- set join = {"member": joiner.member, "minion": joiner.minion,
                "bootstrap": cluster.bootstrap} %}

{{ id }}-{{ joiner.minion }}-offered:
  salt.state:
    - tgt: {{ cluster.bootstrap }}
    - sls: lxd.cluster.offer
    - pillar: {lxd_join: {{ join | json }}}
    - require:
      - salt: {{ id }}-bootstrapped

{{ id }}-{{ joiner.minion }}-joined:
  salt.state:
    - tgt: {{ joiner.minion }}
    - sls: lxd.cluster.join
    - pillar: {lxd_join: {{ join | json }}}
    - require:
      - salt: {{ id }}-{{ joiner.minion }}-offered

{#- also after a failed join: its token must not outlive the attempt #}
{{ id }}-{{ joiner.minion }}-offer-withdrawn:
  salt.state:
    - tgt: {{ cluster.bootstrap }}
    - sls: lxd.cluster.withdraw
    - pillar: {lxd_join: {{ join | json }}}
    - require:
      - salt: {{ id }}-{{ joiner.minion }}-offered
{%- endfor %}
{%- endfor %}
