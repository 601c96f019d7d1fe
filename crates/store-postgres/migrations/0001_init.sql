-- Confab's schema, version 1: one table per kind of record the `Store` trait keeps.
--
-- Keys and uniqueness are columns and constraints; the rest of a record is kept as
-- the JSON of core's serde types (`record`), so one type describes a record
-- everywhere. Ids are the canonical 26-character ULID text Confab shows everywhere
-- else, in the "C" collation, where they sort by creation like the ids themselves.
-- Sequence numbers (`seq`, `event_seq`) and times (milliseconds since the epoch) are
-- bigint. There are no foreign keys: a batch may write records in any order, and a
-- deletion removes exactly what the `Store` operation names, as the sled store does.
--
-- The store applies this file at open, in one transaction, under an advisory lock
-- (see `migrate.rs`), and records it in `schema_migrations`.

-- Accounts. `email_lower` is the email as looked up (lower-cased); the record holds
-- the email as written.
CREATE TABLE users (
    id text COLLATE "C" PRIMARY KEY,
    email_lower text COLLATE "C" NOT NULL,
    username text COLLATE "C" NOT NULL,
    record jsonb NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email_lower),
    CONSTRAINT users_username_key UNIQUE (username)
);

-- Profile pictures (PNG), apart from the account record, which is read far more often.
CREATE TABLE avatars (
    user_id text COLLATE "C" PRIMARY KEY,
    png bytea NOT NULL
);

-- Log-in sessions, by the SHA-256 of their token.
CREATE TABLE sessions (
    token_hash bytea PRIMARY KEY,
    user_id text COLLATE "C" NOT NULL,
    expires_at bigint NOT NULL,
    record jsonb NOT NULL
);
CREATE INDEX sessions_of_user ON sessions (user_id, token_hash);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE workspaces (
    id text COLLATE "C" PRIMARY KEY,
    record jsonb NOT NULL
);

CREATE TABLE members (
    workspace text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    record jsonb NOT NULL,
    PRIMARY KEY (workspace, user_id)
);
CREATE INDEX workspaces_of_user ON members (user_id, workspace);

-- A channel's name is unique in its workspace; a direct message's generated name is
-- outside that name space (it can neither be squatted nor probed for).
CREATE TABLE channels (
    id text COLLATE "C" PRIMARY KEY,
    workspace text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    kind text NOT NULL CHECK (kind IN ('public', 'private', 'dm')),
    record jsonb NOT NULL
);
CREATE UNIQUE INDEX channels_name_key ON channels (workspace, name) WHERE kind <> 'dm';
CREATE INDEX channels_of_workspace ON channels (workspace, id);

CREATE TABLE channel_members (
    channel text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    record jsonb NOT NULL,
    PRIMARY KEY (channel, user_id)
);

-- A member's read marker, moved by every post of theirs without rewriting the
-- membership; it overrides the membership record's `last_read_seq`.
CREATE TABLE read_markers (
    channel text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (channel, user_id)
);

-- Messages by their place in their channel. `record` is the message without its
-- text, which has its own column: PostgreSQL keeps a long text out of line (TOAST)
-- and an update that leaves it unchanged does not copy it, so a reaction or a reply
-- count rewrites a few hundred bytes. `client_msg_id` is the sender's idempotency
-- key, unique per channel and author.
CREATE TABLE messages (
    channel text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    id text COLLATE "C" NOT NULL,
    workspace text COLLATE "C" NOT NULL,
    author text COLLATE "C" NOT NULL,
    thread_root text COLLATE "C",
    client_msg_id text COLLATE "C",
    text text NOT NULL,
    record jsonb NOT NULL,
    PRIMARY KEY (channel, seq),
    CONSTRAINT messages_id_key UNIQUE (id)
);
CREATE UNIQUE INDEX messages_client_id_key ON messages (channel, author, client_msg_id)
    WHERE client_msg_id IS NOT NULL;
CREATE INDEX thread_replies ON messages (thread_root, seq) WHERE thread_root IS NOT NULL;

-- Who a message at `seq` of a channel mentions.
CREATE TABLE mentions (
    channel text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (channel, user_id, seq)
);

-- Threads: who is in each (its root's author and those who replied) ...
CREATE TABLE thread_members (
    root text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (root, user_id)
);

-- ... and, per member and workspace, the threads they are in with the seq of the
-- newest reply they have read.
CREATE TABLE user_threads (
    user_id text COLLATE "C" NOT NULL,
    workspace text COLLATE "C" NOT NULL,
    root text COLLATE "C" NOT NULL,
    read_seq bigint NOT NULL,
    PRIMARY KEY (user_id, workspace, root)
);

-- A member's activity feed: messages that mention them (bit 0 of `flags`) or reply
-- in their threads (bit 1), in message id order (time).
CREATE TABLE activity (
    user_id text COLLATE "C" NOT NULL,
    workspace text COLLATE "C" NOT NULL,
    message text COLLATE "C" NOT NULL,
    flags smallint NOT NULL,
    PRIMARY KEY (user_id, workspace, message)
);

-- Thread replies mentioning a member that they have not read yet.
CREATE TABLE thread_mentions (
    user_id text COLLATE "C" NOT NULL,
    workspace text COLLATE "C" NOT NULL,
    channel text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    root text COLLATE "C" NOT NULL,
    PRIMARY KEY (user_id, workspace, channel, seq)
);

-- Messages a member saved for later, and when.
CREATE TABLE saved (
    user_id text COLLATE "C" NOT NULL,
    workspace text COLLATE "C" NOT NULL,
    message text COLLATE "C" NOT NULL,
    at bigint NOT NULL,
    PRIMARY KEY (user_id, workspace, message)
);

-- A channel's pinned messages: who pinned each and when.
CREATE TABLE pins (
    channel text COLLATE "C" NOT NULL,
    message text COLLATE "C" NOT NULL,
    pinned_by text COLLATE "C" NOT NULL,
    at bigint NOT NULL,
    PRIMARY KEY (channel, message)
);

-- Each workspace's event log, numbered by `event_seq`. `kind` is the event's name
-- (`message.created`, …). A `message.created` or `message.updated` event names the
-- message (`message_channel`, `message_seq`) instead of copying it: reading the log
-- gives the message as stored then. Every other event is kept whole in `event`.
CREATE TABLE events (
    workspace text COLLATE "C" NOT NULL,
    event_seq bigint NOT NULL,
    at bigint NOT NULL,
    kind text NOT NULL,
    event jsonb,
    message_channel text COLLATE "C",
    message_seq bigint,
    PRIMARY KEY (workspace, event_seq),
    CHECK (event IS NOT NULL OR (message_channel IS NOT NULL AND message_seq IS NOT NULL))
);

CREATE TABLE invites (
    code text COLLATE "C" PRIMARY KEY,
    workspace text COLLATE "C" NOT NULL,
    record jsonb NOT NULL
);
CREATE INDEX invites_of_workspace ON invites (workspace, code);

-- Values other crates own (consent ledger, suggestion statistics, search
-- interactions, file records), by workspace and namespace, in key order.
CREATE TABLE blobs (
    workspace text COLLATE "C" NOT NULL,
    namespace text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (workspace, namespace, key)
);

-- One row per open store, rewritten by each `Store::flush`: a flush must write WAL
-- for its synchronous commit to wait for the WAL to reach disk (a transaction that
-- writes nothing commits without flushing). A row per store keeps the flushes of
-- several nodes from queueing on one row's lock.
CREATE TABLE flush_marks (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    flushes bigint NOT NULL DEFAULT 0,
    opened_at timestamptz NOT NULL DEFAULT now()
);
