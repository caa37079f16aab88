"""The Redis backend's registration (read by :mod:`channels_core.registry` without importing
redis-py)."""

from channels_core.registry import Backend

BACKEND = Backend(
    name="redis",
    layer="layers.redis.layer:RedisChannelLayer",
    schemes=("redis", "rediss", "redis+sentinel", "unix"),
    extra="redis",
    title="Redis ≥ 6",
    url="redis://127.0.0.1:6379/0",
)
