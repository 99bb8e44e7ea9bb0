-- One row whose version every process moves after a write that a cache may
-- hold (accounts, projects, settings, memberships: every write not marked
-- routine), so that other processes sharing the database drop their caches
-- (signal.go). On PostgreSQL the change is also announced with NOTIFY.
CREATE TABLE change_signal (
    id      INTEGER PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO change_signal (id, version) VALUES (1, 0);

-- Failed logins shared by every process (auth's throttle): one row per
-- failure of a key (an address and a name, or an address alone), and the
-- locks in force. Times are Unix milliseconds.
CREATE TABLE login_failures (
    lkey TEXT NOT NULL,
    at   BIGINT NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (lkey, at);
CREATE TABLE login_locks (
    lkey  TEXT PRIMARY KEY,
    until BIGINT NOT NULL
);
