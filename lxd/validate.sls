{#- Every other state of the formula requires this one: a bad pillar fails
    here, naming the key and the reason, before anything is changed. The
    SLS files are rendered before it runs: they render pillar strings with
    `| json`, one YAML scalar each, never YAML of their own. #}

lxd-pillar-valid:
  lxd_pillar.valid: []
