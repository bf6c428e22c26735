-- The schema as it was before migrations were versioned: every statement is IF NOT EXISTS, so
-- this first migration applies to a database the unversioned schema already created (its data
-- kept), and from here on `_sqlx_migrations` records the version.
CREATE TABLE IF NOT EXISTS deliveries (delivery_id TEXT PRIMARY KEY, event TEXT NOT NULL, received_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (id BIGSERIAL PRIMARY KEY, delivery_id TEXT NOT NULL, kind TEXT NOT NULL, repo TEXT NOT NULL, pr_number BIGINT NOT NULL, head_sha TEXT NOT NULL, base_sha TEXT NOT NULL, installation_id BIGINT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, run_after BIGINT NOT NULL, lease_until BIGINT, worker TEXT, last_error TEXT, created_at BIGINT NOT NULL, finished_at BIGINT);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (status, run_after, id);
CREATE INDEX IF NOT EXISTS jobs_pr ON jobs (repo, pr_number, status);
CREATE TABLE IF NOT EXISTS installations (id BIGINT PRIMARY KEY, account TEXT NOT NULL, updated_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS installation_repos (installation_id BIGINT NOT NULL, repo TEXT NOT NULL, PRIMARY KEY (installation_id, repo));
