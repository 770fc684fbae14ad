"""The migrations form one line and produce exactly the models' schema, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from vidigest.database.migrate import alembic_config, current_revision
from vidigest.database.models import Base
from vidigest.database.session import Database
from vidigest.modules.search.fulltext_index import include_object


def test_one_head(sqlite_db: Database) -> None:
    heads = ScriptDirectory.from_config(alembic_config(sqlite_db.engine)).get_heads()
    assert len(heads) == 1, f"several migration heads, give one a down_revision: {heads}"
    assert current_revision(sqlite_db.engine) == heads[0]


def test_migrated_schema_matches_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        opts = {"compare_type": True, "include_object": include_object}
        context = MigrationContext.configure(connection, opts=opts)
        assert compare_metadata(context, Base.metadata) == []
