-- `cachebust_enqueue` with the same outcomes in fewer statements per delivery (most groups hold
-- one delivery of a pull request with no other job): a group of one takes its lock without the
-- DISTINCT/ORDER subquery, and one read of the pull request's jobs answers both "is this head
-- already queued?" and "is there an older head to supersede?", so the UPDATE runs only when
-- there is one. Locks, order and outcomes are those of 0002.
CREATE OR REPLACE FUNCTION cachebust_enqueue(
    p_delivery TEXT[], p_kind TEXT[], p_repo TEXT[], p_pr BIGINT[], p_head TEXT[],
    p_base TEXT[], p_installation BIGINT[], p_force BOOLEAN[], p_now BIGINT)
RETURNS TABLE (ord INTEGER, outcome TEXT, job_id BIGINT, superseded BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    i INTEGER;
    n INTEGER := coalesce(array_length(p_delivery, 1), 0);
    existing BIGINT;
    others BIGINT;
BEGIN
    -- one enqueue at a time per pull request across instances, every lock of the group taken
    -- up front and in one order, so that two groups never wait on each other
    IF n = 1 THEN
        PERFORM pg_advisory_xact_lock(hashtext(p_repo[1] || '#' || p_pr[1]));
    ELSE
        PERFORM pg_advisory_xact_lock(l.k)
            FROM (SELECT DISTINCT hashtext(u.r || '#' || u.p) AS k
                    FROM unnest(p_repo, p_pr) AS u(r, p) ORDER BY 1) AS l;
    END IF;
    FOR i IN 1 .. n LOOP
        ord := i;
        job_id := NULL;
        superseded := 0;
        INSERT INTO deliveries (delivery_id, event, received_at)
            VALUES (p_delivery[i], p_kind[i], p_now) ON CONFLICT (delivery_id) DO NOTHING;
        IF NOT FOUND THEN
            outcome := 'duplicate';
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF p_force[i] THEN
            UPDATE jobs SET status = 'superseded', finished_at = p_now
                WHERE repo = p_repo[i] AND pr_number = p_pr[i] AND status IN ('queued', 'running');
            GET DIAGNOSTICS superseded = ROW_COUNT;
        ELSE
            SELECT max(j.id) FILTER (WHERE j.head_sha = p_head[i]),
                   count(*) FILTER (WHERE j.head_sha <> p_head[i] AND j.status <> 'done')
                INTO existing, others
                FROM jobs j
                WHERE j.repo = p_repo[i] AND j.pr_number = p_pr[i]
                  AND j.status IN ('queued', 'running', 'done');
            IF existing IS NOT NULL THEN
                outcome := 'already_queued';
                job_id := existing;
                RETURN NEXT;
                CONTINUE;
            END IF;
            -- an older head of the same pull request is not worth finishing
            IF others > 0 THEN
                UPDATE jobs SET status = 'superseded', finished_at = p_now
                    WHERE repo = p_repo[i] AND pr_number = p_pr[i]
                      AND status IN ('queued', 'running') AND head_sha <> p_head[i];
                GET DIAGNOSTICS superseded = ROW_COUNT;
            END IF;
        END IF;
        INSERT INTO jobs (delivery_id, kind, repo, pr_number, head_sha, base_sha, installation_id,
                          status, attempts, run_after, created_at)
            VALUES (p_delivery[i], p_kind[i], p_repo[i], p_pr[i], p_head[i], p_base[i],
                    p_installation[i], 'queued', 0, p_now, p_now)
            RETURNING id INTO job_id;
        outcome := 'queued';
        RETURN NEXT;
    END LOOP;
END
$$;
