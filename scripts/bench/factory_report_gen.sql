-- Synthetic factory data for the report benchmark (scripts/bench/factory_report.sh):
-- :runs runs from :stations stations (10 lines), generated on the server with
-- generate_series, as the sync would have left them. Each station flashes one
-- unit every 86.4 s on 32 slots (in turn, shifted each round) with 4 packages in turn; every 8th run retries
-- the unit before it (which failed three times in four), other runs fail 3% of
-- the time (six stage/error pairs with their classes) and 0.5% are interrupted.
-- Times start 2026-01-01 UTC; 100,000 runs a station span 100 days.
\set ON_ERROR_STOP 1
INSERT INTO station (id, name, line, host, first_sync_ms, last_sync_ms)
SELECT s, 'st' || lpad(s::text, 3, '0'), 'line' || (1 + (s - 1) % 10), 'host' || s, 0, 0
FROM generate_series(1, :stations) s;
SELECT setval('station_id_seq', :stations);
INSERT INTO package (manifest_hash, name, version, storage, bytes)
SELECT md5('pkg' || p), 'fw', '1.' || p, 'ufs', 1000000000 FROM generate_series(0, 3) p;
INSERT INTO run (station_id, local_id, commit_seq, serial, slot, slot_label, port, package_hash,
                 attempt, retry_of, start_ms, end_ms, result, stage, error, error_class, message,
                 bytes_written, bytes_total, duration_ms, avg_mbps, payload)
SELECT s, k + 1, k + 1,
       lpad(to_hex(s * 10000000 + k - (CASE WHEN k % 8 = 7 THEN 1 ELSE 0 END)), 8, '0'),
       sl, chr(65 + (sl / 8)::int) || (sl % 8 + 1), '1-1.' || (sl + 1),
       md5('pkg' || ((k / 25000) % 4)),
       CASE WHEN k % 8 = 7 THEN 2 ELSE 1 END, CASE WHEN k % 8 = 7 THEN k END,
       start_ms, start_ms + dur, res,
       CASE res WHEN 'pass' THEN NULL ELSE (ARRAY['sahara', 'configure', 'program', 'program', 'verify', 'patch'])[1 + f] END,
       CASE res WHEN 'pass' THEN NULL WHEN 'interrupted' THEN 'EDL_E_INTERRUPTED'
            ELSE (ARRAY['EDL_E_TIMEOUT', 'EDL_E_NAK', 'EDL_E_USB_IO', 'EDL_E_TIMEOUT', 'EDL_E_VERIFY_MISMATCH', 'EDL_E_NAK'])[1 + f] END,
       CASE res WHEN 'pass' THEN NULL ELSE (ARRAY['reseat', 'retry', 'reseat', 'retry', 'rma', 'retry'])[1 + f] END,
       CASE res WHEN 'pass' THEN NULL ELSE 'synthetic failure' END,
       CASE res WHEN 'pass' THEN 1000000000 ELSE 0 END, 1000000000, dur,
       1000000000 / 1e3 / dur, 1048576
FROM (SELECT s, k, h, (k + k / 32) % 32 AS sl, 1767225600000 + k * 86400 + s * 10 AS start_ms,
             40000 + h % 20000 AS dur, (h / 7) % 6 AS f,
             CASE WHEN k % 8 = 6 AND h % 4 <> 0 THEN 'fail'
                  WHEN h % 1000 < 30 THEN 'fail'
                  WHEN h % 1000 < 35 THEN 'interrupted'
                  ELSE 'pass' END AS res
      FROM (SELECT 1 + g % :stations AS s, g / :stations AS k, abs(hashint8(g)) AS h
            FROM generate_series(0::bigint, :runs - 1) g) a) b;
