"""Ray Serve wiring of avatar-chat: ingress, model deployments, protocol."""
