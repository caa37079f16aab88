"""A chat with rooms, served through an interface server by Channels 1.x-style consumers.

Run it (from the repository root, any backend by URL)::

    export CHANNEL_LAYER_URL=redis://127.0.0.1:6379/0
    python -m channels_core runworker --routing examples.chat.routing.channel_routing &
    uvicorn channels_core.bridge:application --port 8000

then open http://127.0.0.1:8000/ in two browser windows.
"""
