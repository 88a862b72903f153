"""prometheus-am-executor configs to alertreflex reflexes, with remarks on the differences.

What am-executor does, from its source (github.com/imgix/prometheus-am-executor, the
releases whose commands know ``max``, ``ignore_resolved`` and ``resolved_signal``):

* A notification with status ``firing`` starts every command whose ``match_labels``
  all equal the notification's *common* labels (no ``match_labels``: every command).
  Commands get am-executor's own environment plus ``AMX_*`` variables describing the
  whole group; their output goes to am-executor's log; nothing times them out.
* ``max`` (0 or less: no limit) caps the instances running at once per alert
  fingerprint (of the first alert that matches); past it the command is skipped.
* A notification with status ``resolved`` starts nothing: it sends ``resolved_signal``
  (a signal name such as ``SIGTERM`` or a number; default SIGKILL) to the instances
  still running for that fingerprint, unless ``ignore_resolved`` is true.
* The webhook answers after the commands end, with HTTP 500 if one failed and its
  ``notify_on_failure`` is true (the default): Alertmanager then sends the notification
  again, and the commands run again.
* Identical commands (same ``cmd``, ``args`` and ``match_labels``) are kept once.

Earlier releases, before those fields existed, ran the commands for every
notification, resolved ones included: ``--run-on-resolved`` reproduces that.

Converted ``exec`` steps have ``amx_env: true``: alertreflex sets the ``AMX_*``
variables itself for the run's one alert, every label and annotation included
(``alertreflex.actions.amx_env``). The command's script files are read only to say
when one reads ``AMX_ALERT_<n>`` past the first alert.

Modules, in the order a conversion uses them: :mod:`.config` reads the am-executor
config, :mod:`.reflexes` maps each command to a reflex (``convert_amx``), with the
texts of :mod:`.remarks` and what :mod:`.scripts` finds in script files, and
:mod:`.output` writes the result as YAML with the remarks as comments.
"""
