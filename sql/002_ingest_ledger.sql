-- Exactly-once effect for redelivered messages: each committed batch records, in its own transaction,
-- the JetStream stream-sequence ranges it settled (rows and dead letters alike). A redelivered copy of
-- a message inside a recorded range is acked without being written again. Rows at or below the
-- consumer's ack floor can never be redelivered and are pruned.
-- stream_key is "<stream name>@<stream creation time>": a stream deleted and recreated restarts its
-- sequences at 1 and must not match the old stream's ranges.
CREATE TABLE IF NOT EXISTS ingest_ledger (
    stream_key TEXT NOT NULL,
    lo BIGINT NOT NULL,
    hi BIGINT NOT NULL,
    committed_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS ingest_ledger_key_hi_idx ON ingest_ledger (stream_key, hi);
