"""Full-text indexes for the vendor in use (Django fields cannot express either).

SQLite: an FTS5 table with external content over search_searchdocument, kept
in sync by triggers; porter stemming, diacritics folded, a prefix index for
3 characters (search-as-you-type starts at 3 letters; a prefix index per
length would multiply the cost of indexing).

PostgreSQL: a generated tsvector column weighting title A, tags B, body C and
staff-only text D (customer queries restrict their lexemes to A-C), a GIN
index on it, and pg_trgm with a trigram index on the vocabulary for typo
tolerance when the extension can be created (it is a trusted extension on
PostgreSQL 13+; without it the search falls back to edit distance in Python).
"""

from django.db import migrations

SQLITE_FORWARD = [
    """
    CREATE VIRTUAL TABLE search_fts USING fts5(
        title, body, staff_body, tags,
        content='search_searchdocument', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2', prefix='3'
    )
    """,
    """
    CREATE TRIGGER search_fts_after_insert AFTER INSERT ON search_searchdocument BEGIN
        INSERT INTO search_fts(rowid, title, body, staff_body, tags)
        VALUES (new.id, new.title, new.body, new.staff_body, new.tags);
    END
    """,
    """
    CREATE TRIGGER search_fts_after_delete AFTER DELETE ON search_searchdocument BEGIN
        INSERT INTO search_fts(search_fts, rowid, title, body, staff_body, tags)
        VALUES ('delete', old.id, old.title, old.body, old.staff_body, old.tags);
    END
    """,
    """
    CREATE TRIGGER search_fts_after_update
    AFTER UPDATE OF title, body, staff_body, tags ON search_searchdocument BEGIN
        INSERT INTO search_fts(search_fts, rowid, title, body, staff_body, tags)
        VALUES ('delete', old.id, old.title, old.body, old.staff_body, old.tags);
        INSERT INTO search_fts(rowid, title, body, staff_body, tags)
        VALUES (new.id, new.title, new.body, new.staff_body, new.tags);
    END
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS search_fts_after_update",
    "DROP TRIGGER IF EXISTS search_fts_after_delete",
    "DROP TRIGGER IF EXISTS search_fts_after_insert",
    "DROP TABLE IF EXISTS search_fts",
]

POSTGRES_FORWARD = [
    """
    ALTER TABLE search_searchdocument ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('english'::regconfig, coalesce(tags, '')), 'B')
        || setweight(to_tsvector('english'::regconfig, left(coalesce(body, ''), 100000)), 'C')
        || setweight(
            to_tsvector('english'::regconfig, left(coalesce(staff_body, ''), 100000)), 'D')
    ) STORED
    """,
    "CREATE INDEX search_doc_fts ON search_searchdocument USING GIN (search_vector)",
    """
    DO $$ BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN others THEN
        RAISE NOTICE 'pg_trgm unavailable (%); typo tolerance uses Python edit distance', SQLERRM;
    END $$
    """,
    """
    DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
            CREATE INDEX search_term_trigram ON search_searchterm USING GIN (term gin_trgm_ops);
        END IF;
    END $$
    """,
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS search_term_trigram",
    "DROP INDEX IF EXISTS search_doc_fts",
    "ALTER TABLE search_searchdocument DROP COLUMN IF EXISTS search_vector",
]


def _run(statements_by_vendor):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("search", "0001_search_index")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        )
    ]
