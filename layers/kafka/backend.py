"""The Kafka backend's registration (read by :mod:`channels_core.registry` without importing
kafka-python)."""

from channels_core.registry import Backend

BACKEND = Backend(
    name="kafka",
    layer="layers.kafka.layer:KafkaChannelLayer",
    schemes=("kafka", "kafka+ssl"),
    extra="kafka",
    title="Kafka (Apache Kafka ≥ 3, Kafka-API brokers)",
    url="kafka://127.0.0.1:9092",
)
