-- Appenders of many processes now commit at once (see audience.storage.postgres_order): each
-- draws its seqs from events_seq under a short draw lock, registered in flight until it ends, and
-- readers read only below the first seq still in flight. A backend must never hold drawn values
-- of its own in a cache, or it could use them behind the readers' horizon: one value at a time.
ALTER SEQUENCE events_seq CACHE 1;
COMMENT ON SEQUENCE events_seq IS
    'seqs are drawn only by audience.storage.postgres_order.draw_seqs, which registers the drawing transaction for the readers';
