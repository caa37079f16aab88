"""The RabbitMQ backend's registration (read by :mod:`channels_core.registry` without
importing pika)."""

from channels_core.registry import Backend

BACKEND = Backend(
    name="rabbitmq",
    layer="layers.rabbitmq.layer:RabbitMQChannelLayer",
    schemes=("amqp", "amqps"),
    extra="rabbitmq",
    title="RabbitMQ ≥ 3.8",
    url="amqp://guest:guest@127.0.0.1:5672/%2F",
)
