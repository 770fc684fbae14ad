"""Alembic environment: runs migrations on the engine vidigest hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, create_engine

from vidigest.database.models import Base
from vidigest.modules.search.fulltext_index import include_object

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if not isinstance(engine, Engine):
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER TABLE
            compare_type=True,
            include_object=include_object,  # the full-text index is not in the models
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `vidigest db upgrade`")
run_migrations_online()
