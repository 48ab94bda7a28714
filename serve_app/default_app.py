"""``app``: avatar-chat bound with default settings, for ``serve build`` (and ``serve run``).

``serve build`` imports its argument and wants a bound ``Application``; it refuses a builder
such as ``build_app`` ("Expected 'serve_app.app:build_app' to be an Application but got
<class 'function'>"), and it has no way to pass ``args``. So::

    serve build serve_app.default_app:app -o my_config.yaml

writes a config of every deployment this app binds, with the options set in code, for you
to edit (replicas, ``ray_actor_options``, ``user_config``) and then ``serve run`` or ``serve
deploy``. Settings come from the code's defaults and the environment (``OPENAI_API_KEY`` and
friends, ``AVATAR_CHAT_*``), read again wherever Serve imports this module. To change the
settings themselves, use ``import_path: serve_app.app:build_app`` with ``args``, as
serve_config.yaml does: the two differ only in where the settings come from.

Importing this module validates the settings, as ``build_app`` always does; nothing starts
Ray.
"""

from __future__ import annotations

from serve_app.app import build_app

app = build_app({})
