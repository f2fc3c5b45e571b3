-- Runs once every key range has been copied. One statement, hence one snapshot: a concurrent
-- write and its mirrored write commit together, so both sides are always seen consistently.
DO $$
DECLARE
    old_count bigint;
    new_count bigint;
    old_sum numeric;
    new_sum numeric;
BEGIN
    SELECT o.n, o.h, c.n, c.h
      INTO old_count, old_sum, new_count, new_sum
    FROM (SELECT count(*) AS n, coalesce(sum(hashtextextended(m::text, 0)::numeric), 0) AS h
          FROM hs.customer_equipment e
          CROSS JOIN LATERAL hs.customer_equipment_to_new(e) AS m) AS o,
         (SELECT count(*) AS n, coalesce(sum(hashtextextended(n::text, 0)::numeric), 0) AS h
          FROM hs.customer_equipment_new AS n) AS c;

    IF old_count <> new_count THEN
        RAISE EXCEPTION 'customer_equipment copy incomplete: old table has % rows, new table has %',
            old_count, new_count;
    END IF;
    IF old_sum <> new_sum THEN
        RAISE EXCEPTION 'customer_equipment copy differs from its source (% rows each, checksums % vs %)',
            old_count, old_sum, new_sum;
    END IF;
END
$$;
