-- Profile search by substring: trigram indexes (the pg_trgm extension) on identifier values and
-- on trait values (a string trait by its text), which ILIKE '%...%' uses for three characters or
-- more. The extension is created once per database, in schema public when there is one, and the
-- indexes name its operator class by the schema it is in.
DO $$
DECLARE
    trgm_schema text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
            RAISE EXCEPTION 'profile search needs the PostgreSQL extension pg_trgm, which this '
                'server does not have: install PostgreSQL''s contrib extensions '
                '(e.g. the postgresql-contrib package)';
        END IF;
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public') THEN
                CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
            ELSE
                CREATE EXTENSION IF NOT EXISTS pg_trgm;
            END IF;
        EXCEPTION WHEN unique_violation OR duplicate_object THEN
            NULL;  -- another process created it at the same moment
        END;
    END IF;
    SELECT n.nspname INTO trgm_schema FROM pg_extension e
        JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
    EXECUTE format(
        'CREATE INDEX identifiers_value_search ON identifiers USING gin (value %I.gin_trgm_ops)',
        trgm_schema);
    EXECUTE format(
        'CREATE INDEX identifier_traits_value_search ON identifier_traits USING gin ('
        '(CASE WHEN substr(value, 1, 1) = ''"'' THEN value::jsonb #>> ''{}'' ELSE value END) '
        '%I.gin_trgm_ops)',
        trgm_schema);
END
$$;
