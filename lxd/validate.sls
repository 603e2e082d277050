{#- Every other state of the formula requires this one: a bad pillar fails
    here, naming the key and the reason, before anything is changed. #}

lxd-pillar-valid:
  lxd_pillar.valid: []
