// The statements of PostgreSQL's group commit (postgres-append.ts): a batch of messages, and a batch of one.

// A message's timestamp as its wire JSON has it: JavaScript's toISOString form.
const TIMESTAMP = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

// A message's wire JSON (wireMessage's shape and key order), kept with it so that a
// history page is a join of stored text, and the answer to its POST the same text.
const WIRE_JSON = `'{"type":"message","id":' || to_json(id)::text || ',"room_id":' || to_json(room_id)::text
    || ',"user_id":' || to_json(user_id)::text || ',"username":' || to_json(username)::text || ',"content":' || to_json(content)::text
    || ',"avatar":' || COALESCE(to_json(avatar)::text, 'null') || ',"avatar_url":' || COALESCE(to_json(avatar)::text, 'null')
    || ',"timestamp":"' || ${TIMESTAMP} || '","seq":' || seq::text
    || CASE WHEN client_id IS NULL THEN '' ELSE ',"client_id":' || to_json(client_id)::text END || '}'`

// One statement for a whole batch, of one room or many: each room's counter is bumped
// once by its number of messages, and its messages take the seqs below the new value
// in arrival order. Rooms are locked in room_id order, so two instances' batches over
// the same rooms queue on each other instead of deadlocking; a room's row lock is held
// until commit, so seq order is commit order on every instance. A message whose
// client_id is already stored (or earlier in the batch) takes no seq: `fresh` leaves it
// out before anything is counted, so a retry leaves no gap. A message without a name
// or avatar of its own takes its sender's profile's here, in the same statement.
export const APPEND_BATCH = `
  WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
      WITH ORDINALITY AS t(room_id, id, user_id, username, content, avatar, client_id, ord)
  ),
  twins AS (
    SELECT i.*, row_number() OVER (PARTITION BY i.room_id, i.user_id, i.client_id ORDER BY i.ord) AS nth FROM input i
  ),
  fresh AS (
    SELECT i.room_id, i.id, i.user_id, i.username, i.content, i.avatar, i.client_id, i.ord FROM twins i
     WHERE i.client_id IS NULL
        OR (i.nth = 1 AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.room_id = i.room_id AND m.user_id = i.user_id AND m.client_id = i.client_id))
  ),
  counts AS (
    SELECT room_id, count(*)::bigint AS n FROM fresh GROUP BY room_id
  ),
  bumped AS (
    INSERT INTO rooms AS r (room_id, created_at, last_seq, last_message_at)
    SELECT room_id, $8::timestamptz, n, $8::timestamptz FROM counts ORDER BY room_id
    ON CONFLICT (room_id) DO UPDATE
      SET last_seq = r.last_seq + EXCLUDED.last_seq,
          last_message_at = GREATEST(r.last_message_at, EXCLUDED.last_message_at)
    RETURNING room_id, last_seq, last_message_at
  ),
  stored AS (
    SELECT f.room_id, b.last_seq - c.n + row_number() OVER (PARTITION BY f.room_id ORDER BY f.ord) AS seq,
           f.id, f.user_id, COALESCE(f.username, p.username, $9) AS username, f.content,
           COALESCE(f.avatar, p.avatar_url) AS avatar, b.last_message_at AS created_at, f.client_id
      FROM fresh f JOIN counts c USING (room_id) JOIN bumped b USING (room_id)
      LEFT JOIN profiles p ON p.room_id = f.room_id AND p.user_id = f.user_id
  )
  INSERT INTO messages (room_id, seq, id, user_id, username, content, avatar, created_at, client_id, json)
  SELECT room_id, seq, id, user_id, username, content, avatar, created_at, client_id, ${WIRE_JSON} FROM stored
  RETURNING id, seq, ${TIMESTAMP} AS timestamp, username, avatar, json`

// A batch of one message, the batch's rules without its machinery (no arrays, windows or
// grouping): half the database's CPU for the most common batch there is, a quiet room's
// message. Its client_id check is the guard on the room's row: a retry bumps no counter.
export const APPEND_ONE = `
  WITH bumped AS (
    INSERT INTO rooms AS r (room_id, created_at, last_seq, last_message_at)
    SELECT $1, $8::timestamptz, 1, $8::timestamptz
     WHERE $7::text IS NULL OR NOT EXISTS (SELECT 1 FROM messages m WHERE m.room_id = $1 AND m.user_id = $3 AND m.client_id = $7)
    ON CONFLICT (room_id) DO UPDATE
      SET last_seq = r.last_seq + 1,
          last_message_at = GREATEST(r.last_message_at, EXCLUDED.last_message_at)
    RETURNING room_id, last_seq, last_message_at
  ),
  stored AS (
    SELECT b.room_id, b.last_seq AS seq, $2::text AS id, $3::text AS user_id, COALESCE($4::text, p.username, $9) AS username,
           $5::text AS content, COALESCE($6::text, p.avatar_url) AS avatar, b.last_message_at AS created_at, $7::text AS client_id
      FROM bumped b LEFT JOIN profiles p ON p.room_id = b.room_id AND p.user_id = $3
  )
  INSERT INTO messages (room_id, seq, id, user_id, username, content, avatar, created_at, client_id, json)
  SELECT room_id, seq, id, user_id, username, content, avatar, created_at, client_id, ${WIRE_JSON} FROM stored
  RETURNING id, seq, ${TIMESTAMP} AS timestamp, username, avatar, json`
