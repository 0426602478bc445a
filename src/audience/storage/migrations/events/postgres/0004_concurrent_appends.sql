-- Appenders of many processes now commit at the same time (audience.storage.postgres_order): each
-- draws its seqs from events_seq under a short draw lock, registered in flight until it ends, and
-- readers read only below the first seq still in flight. So a seq is never drawn any other way: the
-- column has no default (an insert without a drawn seq fails), and the sequence hands out one value
-- at a time (a backend's cached values would be used behind the readers' horizon).
ALTER TABLE events ALTER COLUMN seq DROP DEFAULT;
ALTER SEQUENCE events_seq CACHE 1;
COMMENT ON SEQUENCE events_seq IS
    'drawn only by audience.storage.postgres_order.draw_seqs, which registers the drawing transaction for the readers';
