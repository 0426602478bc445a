-- Profile search by substring: one document per identifier (its value, then the values of its
-- traits, a string trait by its text, each part after a unit separator) in an FTS5 table with the
-- trigram tokenizer, so a phrase query finds any substring of three characters or more, case
-- folded. The store writes an identifier's document when the identifier is created or its
-- traits change; the triggers drop it when the identifier goes, and rewrite it when one of its
-- traits is deleted. Documents of the identifiers already stored are written here.
CREATE VIRTUAL TABLE profile_search USING fts5(body, tokenize = 'trigram');
INSERT INTO profile_search (rowid, body)
    SELECT i.id, i.value || coalesce(char(31) || (
        SELECT group_concat(
            CASE WHEN substr(t.value, 1, 1) = '"' THEN json_extract(t.value, '$') ELSE t.value END,
            char(31))
        FROM identifier_traits t WHERE t.identifier = i.id), '')
    FROM identifiers i;
CREATE TRIGGER profile_search_identifier_deleted AFTER DELETE ON identifiers BEGIN
    DELETE FROM profile_search WHERE rowid = old.id;
END;
CREATE TRIGGER profile_search_trait_deleted AFTER DELETE ON identifier_traits BEGIN
    INSERT OR REPLACE INTO profile_search (rowid, body)
        SELECT i.id, i.value || coalesce(char(31) || (
            SELECT group_concat(
                CASE WHEN substr(t.value, 1, 1) = '"' THEN json_extract(t.value, '$')
                ELSE t.value END,
                char(31))
            FROM identifier_traits t WHERE t.identifier = i.id), '')
        FROM identifiers i WHERE i.id = old.identifier;
END;
