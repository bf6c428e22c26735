-- Deliveries are recorded in groups: one call of this function is one statement, so one round
-- trip, one transaction and one WAL flush for every delivery that arrived while the previous
-- group was committing. Each job of the group is enqueued in order exactly as the transaction of
-- one delivery did before (delivery row, same-head check unless forced, supersede, job row), and
-- its outcome is one row: `duplicate` (the delivery id was recorded before), `already_queued`
-- (job_id: the job for that head) or `queued` (job_id, and how many older jobs it superseded).
CREATE OR REPLACE FUNCTION cachebust_enqueue(
    p_delivery TEXT[], p_kind TEXT[], p_repo TEXT[], p_pr BIGINT[], p_head TEXT[],
    p_base TEXT[], p_installation BIGINT[], p_force BOOLEAN[], p_now BIGINT)
RETURNS TABLE (ord INTEGER, outcome TEXT, job_id BIGINT, superseded BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    i INTEGER;
    existing BIGINT;
BEGIN
    -- one enqueue at a time per pull request across instances (as before), every lock of the
    -- group taken up front and in one order, so that two groups never wait on each other
    PERFORM pg_advisory_xact_lock(l.k)
        FROM (SELECT DISTINCT hashtext(u.r || '#' || u.p) AS k
                FROM unnest(p_repo, p_pr) AS u(r, p) ORDER BY 1) AS l;
    FOR i IN 1 .. coalesce(array_length(p_delivery, 1), 0) LOOP
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
        IF NOT p_force[i] THEN
            SELECT j.id INTO existing FROM jobs j
                WHERE j.repo = p_repo[i] AND j.pr_number = p_pr[i] AND j.head_sha = p_head[i]
                  AND j.status IN ('queued', 'running', 'done')
                ORDER BY j.id DESC LIMIT 1;
            IF FOUND THEN
                outcome := 'already_queued';
                job_id := existing;
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;
        -- an older head of the same pull request is not worth finishing
        UPDATE jobs SET status = 'superseded', finished_at = p_now
            WHERE repo = p_repo[i] AND pr_number = p_pr[i] AND status IN ('queued', 'running')
              AND (head_sha <> p_head[i] OR p_force[i]);
        GET DIAGNOSTICS superseded = ROW_COUNT;
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
