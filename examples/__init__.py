"""Example apps (run from the repository root: ``python -m channels_core runworker --routing
examples.chat.routing.channel_routing``)."""
