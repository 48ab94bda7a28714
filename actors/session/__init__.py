"""The Ray side of a session: the only Ray code in ``actors``.

    actor           SessionActor      one per user: conversation, voice input, the outbox
    remote_stages   DeploymentStages  the turn's stages as Serve handle calls
    store           SessionStore      the history that outlives a session's process
    metrics         Ray metrics of turns, sessions and client errors

Nothing is re-exported here: ``actor`` pulls in Ray and every engine, and ``serve_app``
imports ``store`` and ``metrics`` without wanting either.
"""
