-- Resumable live feed (issue 12): a commit-order position shared by the in-memory publisher and the
-- database. Every ingest transaction that writes takes live_commit_seq under its stream lock
-- (src/write/ledger.ts, in the ledger's round trip), so commit_no grows in commit order per stream
-- and a snapshot that sees commit N sees every earlier one. `tx` is the writing transaction's id
-- (txid_current(), epoch-extended: never reused), which every row it COPYs stores in
-- sensor_data.live_tx through the column default below: the binary COPY does not name the column.
-- Rows written by other tools get their own transaction's id but no live_commits row: not in the feed.
CREATE SEQUENCE IF NOT EXISTS live_commit_seq;
-- min_time/max_time bound the reading times of its rows (NULL: none), so a replay reads only the chunks
-- (TimescaleDB) or block ranges (time BRIN) that can hold them: a compressed chunk has no index on live_tx.
CREATE TABLE IF NOT EXISTS live_commits (
    commit_no BIGINT PRIMARY KEY,
    tx BIGINT NOT NULL,
    committed_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    min_time TIMESTAMPTZ,
    max_time TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS live_commits_committed_at_idx ON live_commits (committed_at);
-- Added without a default (no table rewrite, allowed on a compressed hypertable), then given one:
-- only rows written from now on carry it.
ALTER TABLE sensor_data ADD COLUMN IF NOT EXISTS live_tx BIGINT;
ALTER TABLE sensor_data ALTER COLUMN live_tx SET DEFAULT txid_current();
-- Transaction ids grow with time, so block ranges map to commits: a resume reads a few ranges.
CREATE INDEX IF NOT EXISTS sensor_data_live_tx_brin ON sensor_data USING brin (live_tx);
