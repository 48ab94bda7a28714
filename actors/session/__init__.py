"""The Ray side of a session: the only Ray code in ``actors``.

    session         Session           one per user: conversation, voice input, the outbox
    host            SessionHost       the Ray actor holding several sessions; SessionHandle
    remote_stages   DeploymentStages  the turn's stages as Serve handle calls
    store           SessionStore      the history that outlives a session's process
    memory          giving freed heap back to the machine
    metrics         Ray metrics of turns, sessions and client errors

Nothing is re-exported here: ``host`` pulls in Ray and every engine, and ``serve_app``
imports ``store`` and ``metrics`` without wanting either.
"""
