{#- salt-run state.orchestrate lxd.cluster [pillar='{"lxd_cluster": "<name>"}']

    Form or grow every LXD cluster in pillar (or only the one named):
    1. every member prepared at once (state.apply lxd: installed, tuned),
       and one member bootstrapped: an online member when the cluster
       exists, else lxd:cluster:bootstrap, else the first minion id; it
       issues a join token for each joiner, carried to that joiner alone
       through the mine;
    2. each joiner joins, one at a time (LXD does not take concurrent
       joins);
    3. the tokens left (of failed joins) revoked, the offers withdrawn.
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
{%- set form = {"bootstrap": cluster.bootstrap, "joiners": cluster.joiners} %}

{{ id }}-prepared-and-bootstrapped:
  salt.state:
    - tgt: {{ cluster.minions | json }}
    - tgt_type: list
    - sls: lxd.cluster.form
    - pillar: {lxd_form: {{ form | json }}}

{%- for joiner in cluster.joiners %}

{{ id }}-{{ joiner.minion }}-joined:
  salt.state:
    - tgt: {{ joiner.minion }}
    - sls: lxd.cluster.join
    - pillar: {lxd_join: {bootstrap: {{ cluster.bootstrap }}}}
    - require:
      - salt: {{ id }}-prepared-and-bootstrapped
{%- endfor %}

{%- if cluster.joiners %}

{#- after the joins (declaration order), also after failed ones: no token
    may outlive the attempt #}
{{ id }}-offers-withdrawn:
  salt.state:
    - tgt: {{ cluster.bootstrap }}
    - sls: lxd.cluster.withdraw
    - pillar: {lxd_form: {{ form | json }}}
    - require:
      - salt: {{ id }}-prepared-and-bootstrapped
{%- endif %}
{%- endfor %}
