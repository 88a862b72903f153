"""Where a step's program runs: on the host, or in a container through the engine.

:class:`~alertreflex.targets.base.Target` is the small interface the actions use
(``exec`` in a container, ``jvm_thread_dump``'s jcmd); a Kubernetes pod would be one
more implementation beside :mod:`~alertreflex.targets.host` and
:mod:`~alertreflex.targets.container`. Failing to reach or use a target raises from
one tree, each message naming what is wrong::

    TargetError
    ├── EngineUnreachable     the engine's API did not answer (the URL named)
    ├── NoSuchContainer       no container of that name or id
    ├── NotRunning            the container exists but is stopped or paused
    ├── NoMatch               a label selector matched no running container
    ├── Ambiguous             a label selector matched several
    ├── Refused               the container is another team's, or outside
    │                         settings.containers.match
    └── ProgramNotFound       the program is not in the target (jcmd in a JRE image)
"""
