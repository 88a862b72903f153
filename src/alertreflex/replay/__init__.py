"""Replay: what reflexes would have done with real alert history (docs/replay.md).

``history`` reads episodes (from Prometheus's ``ALERTS`` series), ``simulate`` feeds
them through a config's reflexes on a simulated clock, ``report`` says what happened.
Nothing is executed; steps are rendered as ``alertreflex test`` renders them.
"""
