-- Search finds repositories whose name contains a keyword. A LIKE '%k%'
-- scan reads every repository name; a trigram index reads the few that
-- can match. PostgreSQL: pg_trgm's GIN index, which LIKE uses as it is.
-- pg_trgm ships with PostgreSQL (contrib) and is a trusted extension. It
-- goes into the public schema unless the database has it already
-- (wherever it is); if the server lacks it or the role may not create it,
-- search keeps scanning and Berth still starts.
DO $$ DECLARE s text; BEGIN CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public; SELECT n.nspname INTO s FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'; EXECUTE format('CREATE INDEX repositories_name_trgm ON repositories USING gin (name %I.gin_trgm_ops)', s); EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'pg_trgm unavailable (%): repository search scans names', SQLERRM; END $$;
