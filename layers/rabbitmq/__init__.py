"""RabbitMQ channel layer: the whole contract on RabbitMQ 3.x through pika.

Features (placeholder, completed below)
"""

from __future__ import annotations

from .layer import RabbitMQChannelLayer

__all__ = ["RabbitMQChannelLayer"]
