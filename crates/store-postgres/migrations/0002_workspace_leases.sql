-- Schema version 2: which node sequences each workspace's writes (`lease.rs`).
--
-- A node holds a workspace's write lease while `holder` names it and `expires_at`
-- is in the future; it renews the row well before then. `epoch` grows each time the
-- lease changes hands (or is taken again after it lapsed): every batch that writes
-- a workspace's messages or events checks, in its own transaction, that the row
-- still names this node at the epoch it took, and locks the row (FOR SHARE) until
-- it commits, so that a node whose lease lapsed cannot commit once another node has
-- taken it.
CREATE TABLE workspace_leases (
    workspace text COLLATE "C" PRIMARY KEY,
    holder text COLLATE "C" NOT NULL,
    epoch bigint NOT NULL,
    expires_at timestamptz NOT NULL
);
