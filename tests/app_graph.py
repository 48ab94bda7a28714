"""The deployments a Serve application binds, found without deploying it."""

from __future__ import annotations

from ray.serve import Application


def bound_deployments(app: Application) -> dict:
    """Name -> Serve deployment, for every deployment the application binds (the ingress
    and every application passed to it as an argument, recursively)."""
    found, stack = {}, [app]
    while stack:
        bound = stack.pop()._bound_deployment
        found[bound.name] = bound
        args = (*bound.init_args, *bound.init_kwargs.values())
        stack += [a for a in args if isinstance(a, Application)]
    return found
