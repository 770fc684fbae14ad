"""Full-text search over transcript segments (SQLite FTS5 embedded, PostgreSQL tsvector)."""
