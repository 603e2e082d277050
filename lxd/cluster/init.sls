{#- salt-run state.orchestrate lxd.cluster [pillar='{"lxd_cluster": "<name>"}']

    Form or grow every LXD cluster in pillar (or only the one named), in
    one job on all of its minions at once (lxd.cluster.form):
    - every host prepared (state.apply lxd: installed from nothing if need
      be, tuned);
    - one member bootstrapped: an online member when the cluster exists,
      else lxd:cluster:bootstrap, else the first minion id;
    - the joiners joined one at a time (LXD does not take concurrent
      joins): the bootstrap member issues each joiner's token right before
      its join and carries it to that joiner alone through the mine, then
      waits for the joiner's report before the next token. A joiner whose
      preparation or join fails holds up only itself (it reports so), and
      its unused token is revoked at once;
    - the offers withdrawn from the mine (lxd_cluster.withdraw_offers).
    A formed cluster with nothing to join is left alone (state.apply lxd
    keeps its members). The plan comes from the lxd_cluster runner
    (salt-run lxd_cluster.plan): minions that did not answer are errors
    (the run fails naming them), hosts without LXD yet are notes
    (installed and joined in this run). A cluster with joiners is locked
    by the plan for the run (a second run refuses; a killed run's lock
    expires, or salt-run lxd_cluster.unlock <name> force=True), which also
    withdraws the offers an interrupted run left; the bootstrap member
    revokes the tokens it left; the last step releases the lock. A dry run
    (test=True) takes no lock. #}
{#- lxd_orchestrate runs the runner as saltutil.runner would, closing its
    client #}
{%- set plan = salt["lxd_orchestrate.cluster_plan"](cluster=salt["pillar.get"]("lxd_cluster"),
                                                    locking=not opts.get("test", False)) %}

{%- for error in plan.errors %}

{#- failing in a dry run too, with the reason (test.fail_without_changes
    would replace it) #}
lxd-cluster-plan-error-{{ loop.index }}:
  test.configurable_test_state:
    - name: {{ error | json }}
    - changes: false
    - result: false
    - comment: {{ error | json }}
    - allow_test_mode_failure: true
{%- endfor %}

{%- for note in plan.notes %}

lxd-cluster-plan-note-{{ loop.index }}:
  test.succeed_without_changes:
    - name: {{ note | json }}
    - comment: {{ note | json }}
{%- endfor %}

{%- for cluster in plan.clusters %}
{%- set id = "lxd-cluster-" ~ cluster.name %}
{%- set form = dict(bootstrap=cluster.bootstrap, joiners=cluster.joiners, run=plan.run) %}
{%- if not cluster.joiners and cluster.members %}

{{ id }}-formed:
  test.succeed_without_changes:
    - name: {{ ("cluster " ~ cluster.name ~ ": formed, every minion a member; "
                "nothing to join") | json }}
{%- else %}

{{ id }}-formed:
  salt.state:
    - tgt: {{ cluster.minions | json }}
    - tgt_type: list
    - sls: lxd.cluster.form
    - pillar: {{ dict(lxd_form=form) | json }}
    {#- a minion that does not return fails the step #}
    - expect_minions: true

{%- if cluster.joiners %}

{#- last, whatever happened before: no offer or report stays in the mine,
    and the cluster's lock is released #}
{{ id }}-offers-withdrawn:
  salt.runner:
    - name: lxd_cluster.withdraw_offers
    - holders: {{ cluster.minions | json }}
    - joiners: {{ cluster.joiners | map(attribute="minion") | list | json }}
    - cluster: {{ cluster.name | json }}
    - owner: {{ plan.run | json }}
    - order: last
{%- endif %}
{%- endif %}
{%- endfor %}
