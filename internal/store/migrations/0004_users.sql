-- Users: e-mail addresses are unique (ignoring case) as in Harbor, except
-- the empty address the bootstrap admin starts with; listings sort by
-- creation time.

CREATE UNIQUE INDEX users_email_unique ON users (LOWER(email)) WHERE email <> '';
CREATE INDEX users_created ON users (created_at);
