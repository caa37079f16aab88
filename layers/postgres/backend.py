"""The PostgreSQL backend's registration (read by :mod:`channels_core.registry` without
importing psycopg)."""

from channels_core.registry import Backend

BACKEND = Backend(
    name="postgres",
    layer="layers.postgres.layer:PostgresChannelLayer",
    schemes=("postgresql", "postgres"),
    aliases=("postgresql",),
    extra="postgres",
    title="PostgreSQL ≥ 13",
    url="postgresql://postgres@127.0.0.1:5432/test",
)
