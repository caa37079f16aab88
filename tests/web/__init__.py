"""End-to-end web tests: interface servers, the ASGI 3 bridge, the chat in a browser."""
