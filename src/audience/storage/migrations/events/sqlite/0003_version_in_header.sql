-- The file's schema version is its PRAGMA user_version: the copy once kept in meta goes.
DELETE FROM meta WHERE key = 'schema_version';
