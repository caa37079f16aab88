"""Django integration of channels-core (``pip install 'channels-core[django]'``).

Add ``"channels_core.django"`` to ``INSTALLED_APPS`` (for the ``runworker`` management
command) and define ``CHANNEL_LAYERS`` in the Django settings. The pieces:

* :mod:`channels_core.django.handler`: ``AsgiRequest`` and ``AsgiHandler`` (Django views
  answering ``http.request`` messages);
* :mod:`channels_core.django.consumer`: ``view_consumer`` and ``http_routing`` to route
  ``http.request`` to them;
* :mod:`channels_core.django.sessions`: ``http_session``, ``channel_and_http_session`` and
  ``DjangoSessionStore``;
* :mod:`channels_core.django.security`: ``allowed_hosts_only``;
* :mod:`channels_core.django.auth`: ``message.user`` (``http_session_user``,
  ``channel_session_user``, ``channel_session_user_from_http``, ...).

This package imports Django; nothing outside it does at import time.
"""
