{#- salt-run state.orchestrate lxd.cluster [pillar='{"lxd_cluster": "<name>"}']

    Form or grow every LXD cluster in pillar (or only the one named):
    1. every member prepared at once, each in its own job (state.apply
       lxd: installed from nothing if need be, tuned), and one member
       bootstrapped: an online member when the cluster exists, else
       lxd:cluster:bootstrap, else the first minion id;
    2. the joiners join one at a time (LXD does not take concurrent joins),
       each with a join token issued right before its join and carried to
       it alone through the mine: by the bootstrap member (in step 1) for
       the first joiner, then by each joiner, once joined, for the next
       (by the bootstrap member when that join failed). A joiner whose
       preparation failed is not joined; the others are;
    3. the tokens of failed joins revoked (on the bootstrap member), the
       offers withdrawn from the mine (lxd_cluster.withdraw_offers).
    The plan comes from the lxd_cluster runner (salt-run lxd_cluster.plan):
    minions that did not answer are errors (the run fails naming them),
    hosts without LXD yet are notes (installed and joined in this run).
    A cluster with joiners is locked by the plan for the run (a second run
    refuses; a killed run's lock expires, or salt-run lxd_cluster.unlock
    <name> force=True), which also withdraws the offers an interrupted run
    left; the bootstrap member revokes the tokens it left; the last step
    releases the lock. A dry run (test=True) takes no lock. #}
{%- set plan = salt["saltutil.runner"]("lxd_cluster.plan",
                                       cluster=salt["pillar.get"]("lxd_cluster"),
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
{%- set joiners = cluster.joiners %}
{%- set first_offer = {"lxd_offer": joiners[0]} if joiners else {} %}
{%- set form = dict(lxd_form=dict(bootstrap=cluster.bootstrap)) %}

{#- every minion prepared at once, each in its own job, so that one that
    fails (its package install, say) holds up only its own join #}
{{ id }}-bootstrapped:
  salt.state:
    - tgt: {{ cluster.bootstrap }}
    - sls: lxd.cluster.form
    - pillar: {{ dict(form, **first_offer) | json }}
    - parallel: true

{%- for minion in cluster.minions if minion != cluster.bootstrap %}

{{ id }}-{{ minion }}-prepared:
  salt.state:
    - tgt: {{ minion }}
    - sls: lxd.cluster.form
    - pillar: {{ form | json }}
    - parallel: true
{%- endfor %}

{%- for joiner in joiners %}
{#- the offer comes from the previous joiner once it joined, or from the
    bootstrap member, which passes it on when that join failed (its offer
    first: issuing it revoked any token the previous joiner had offered) #}
{%- set offered_by = [cluster.bootstrap, loop.previtem.minion] if not loop.first
                     else [cluster.bootstrap] %}

{{ id }}-{{ joiner.minion }}-joined:
  salt.state:
    - tgt: {{ joiner.minion }}
    - sls: lxd.cluster.join
    - pillar: {{ dict(lxd_join={"offered_by": offered_by},
                      **({"lxd_offer": loop.nextitem} if not loop.last else {})) | json }}
    - require:
      - salt: {{ id }}-bootstrapped
      - salt: {{ id }}-{{ joiner.minion }}-prepared

{%- if not loop.last %}

{{ id }}-{{ joiner.minion }}-offer-passed-on:
  salt.state:
    - tgt: {{ cluster.bootstrap }}
    - sls: lxd.cluster.offer
    - pillar: {{ {"lxd_offer": loop.nextitem} | json }}
    {#- a join skipped for a failed preparation does not count as failed:
        Salt triggers onfail on states that ran #}
    - onfail_any:
      - salt: {{ id }}-{{ joiner.minion }}-prepared
      - salt: {{ id }}-{{ joiner.minion }}-joined
    - require:
      - salt: {{ id }}-bootstrapped
{%- endif %}
{%- endfor %}

{%- if joiners %}

{#- a failed join (or a failed first step, or a joiner that could not be
    prepared) can leave a token valid until it expires: revoke it #}
{{ id }}-unused-tokens-revoked:
  salt.state:
    - tgt: {{ cluster.bootstrap }}
    - sls: lxd.cluster.withdraw
    - pillar: {lxd_form: {joiners: {{ joiners | json }}}}
    - onfail_any:
      - salt: {{ id }}-bootstrapped
{%- for joiner in joiners %}
      - salt: {{ id }}-{{ joiner.minion }}-prepared
      - salt: {{ id }}-{{ joiner.minion }}-joined
{%- endfor %}

{#- last, whatever happened before: no offer stays in the mine, and the
    cluster's lock is released #}
{{ id }}-offers-withdrawn:
  salt.runner:
    - name: lxd_cluster.withdraw_offers
    - holders: {{ cluster.minions | json }}
    - joiners: {{ joiners | map(attribute="minion") | list | json }}
    - cluster: {{ cluster.name | json }}
    - owner: {{ plan.run | json }}
{%- endif %}
{%- endfor %}
