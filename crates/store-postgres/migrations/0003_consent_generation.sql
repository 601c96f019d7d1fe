-- Schema version 3: the cluster-wide consent generation (`Store::consent_generation`).
--
-- One row. Every append to a consent ledger adds one to it in the append's own
-- transaction, so a node that reads it after a withdrawal's call returned (on any
-- node) sees it moved, and stops serving what it chose before: which model serves a
-- workspace is cached per generation.
CREATE TABLE consent_generation (
    id smallint PRIMARY KEY CHECK (id = 1),
    generation bigint NOT NULL
);
INSERT INTO consent_generation (id, generation) VALUES (1, 0);
