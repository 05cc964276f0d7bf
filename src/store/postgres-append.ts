// PostgreSQL group commit: the appends that arrive together go in one statement, seqs allocated once per room.
import type pg from 'pg'
import type { Message } from '../schemas/http'
import { DEFAULT_USERNAME } from '../chat/text'
import { uuidv7 } from './ids'
import { wireMessage, type NewMessage } from './store'

export interface AppendResult {
  message: Message
  created: boolean
}

// A message's wire JSON (wireMessage's shape and key order), kept with it so that a
// history page is a join of stored text. Timestamps are JavaScript's toISOString form.
const WIRE_JSON = `'{"type":"message","id":' || to_json(id)::text || ',"room_id":' || to_json(room_id)::text
    || ',"user_id":' || to_json(user_id)::text || ',"username":' || to_json(username)::text || ',"content":' || to_json(content)::text
    || ',"avatar":' || COALESCE(to_json(avatar)::text, 'null') || ',"avatar_url":' || COALESCE(to_json(avatar)::text, 'null')
    || ',"timestamp":"' || to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '","seq":' || seq::text
    || CASE WHEN client_id IS NULL THEN '' ELSE ',"client_id":' || to_json(client_id)::text END || '}'`

// One statement for a whole batch, of one room or many: each room's counter is bumped
// once by its number of messages, and its messages take the seqs below the new value
// in arrival order. Rooms are locked in room_id order, so two instances' batches over
// the same rooms queue on each other instead of deadlocking; a room's row lock is held
// until commit, so seq order is commit order on every instance. A message whose
// client_id is already stored (or earlier in the batch) takes no seq: `fresh` leaves it
// out before anything is counted, so a retry leaves no gap. A message without a name
// or avatar of its own takes its sender's profile's here, in the same statement.
const APPEND_BATCH = `
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
  RETURNING id, seq, created_at, username, avatar`

// A batch of one message, the batch's rules without its machinery (no arrays, windows or
// grouping): half the database's CPU for the most common batch there is, a quiet room's
// message. Its client_id check is the guard on the room's row: a retry bumps no counter.
const APPEND_ONE = `
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
  RETURNING id, seq, created_at, username, avatar`

// A batch is at most this many messages (one statement's arrays).
const MAX_BATCH = 500

interface Item {
  message: NewMessage
  id: string
  resolve (result: AppendResult): void
  reject (err: unknown): void
}

/**
 * Appends that do not wait for each other. While a room's batch is in flight, its
 * next messages gather for the next one (one commit for many); batches of different
 * rooms run side by side, up to `parallel` at once. A room is in at most one batch in
 * flight, so one sender's messages take seqs in the order they were appended.
 *
 * A batch's connection is kept for the next batch: when a commit comes back, the
 * messages that gathered meanwhile are sent on it at once, before the committed ones
 * are answered. Through the pool they would go out only after every answer (its
 * checkout waits for the turn's end), and each cycle of the room's queue would be a
 * round trip plus the answering longer.
 */
export function createPostgresAppender ({ pool, parallel, findByClientId }: {
  pool: pg.Pool
  parallel: number
  /** The stored message of a client_id: the answer to a retry. */
  findByClientId (message: NewMessage & { clientId: string }): Promise<Message | undefined>
}) {
  let queue: Item[] = []
  const busy = new Set<string>()
  let inFlight = 0
  let scheduled = false
  const idlers: Array<() => void> = []

  function schedule (): void {
    if (scheduled) return
    scheduled = true
    // The appends of one event-loop turn share a batch.
    setImmediate(() => {
      scheduled = false
      pump()
    })
  }

  /** The next batch: queued messages of rooms with no batch in flight, in arrival order. */
  function take (): Item[] | null {
    const batch: Item[] = []
    const rest: Item[] = []
    const rooms = new Set<string>()
    for (const item of queue) {
      if (busy.has(item.message.roomId) || batch.length >= MAX_BATCH) rest.push(item)
      else {
        batch.push(item)
        rooms.add(item.message.roomId)
      }
    }
    if (batch.length === 0) return null
    queue = rest
    for (const room of rooms) busy.add(room)
    return batch
  }

  /** Starts what can start; `spare` is a connection just freed, used first (its query goes out now). */
  function pump (spare?: pg.PoolClient): void {
    while (inFlight < parallel && queue.length > 0) {
      const batch = take()
      if (batch === null) break
      inFlight++
      // run answers every item, whatever fails: a throw here would be a bug, not a reason to hang them.
      run(batch, spare).catch((err) => { for (const item of batch) item.reject(err) })
      spare = undefined
    }
    spare?.release()
  }

  function settled (): void {
    if (queue.length === 0 && inFlight === 0) for (const resolve of idlers.splice(0)) resolve()
  }

  async function run (batch: Item[], spare: pg.PoolClient | undefined): Promise<void> {
    let client = spare
    let results: AppendResult[] | undefined
    let failed: unknown
    try {
      client ??= await pool.connect()
      results = await appendBatch(client, batch)
    } catch (err) {
      failed = err
    }
    if (results !== undefined) {
      // The next batch goes out on this connection before these are answered.
      finish(batch, client)
      for (let i = 0; i < batch.length; i++) batch[i].resolve(results[i])
      settled()
      return
    }
    // The statement rolled back whole (its counters with it), or no connection: a twin
    // client_id from another instance, or one bad message. Redo them one by one, in
    // order, so the rest are stored and each gets its own answer.
    // As pool.query does: a connection whose statement failed is closed, not reused.
    client?.release(failed instanceof Error ? failed : new Error(String(failed)))
    for (const item of batch) {
      try {
        item.resolve((await appendAlone(item, batch.length === 1 ? failed : undefined))[0])
      } catch (itemErr) {
        item.reject(itemErr)
      }
    }
    finish(batch, undefined)
    settled()
  }

  function finish (batch: Item[], client: pg.PoolClient | undefined): void {
    inFlight--
    for (const item of batch) busy.delete(item.message.roomId)
    pump(client)
  }

  /**
   * One message on its own. A unique violation means a twin client_id committed by
   * another instance meanwhile: once more, and the statement finds it stored.
   */
  async function appendAlone (item: Item, failed?: unknown): Promise<AppendResult[]> {
    if (failed !== undefined && !isUniqueViolation(failed)) throw failed
    try {
      return await appendBatch(pool, [item])
    } catch (err) {
      if (!isUniqueViolation(err)) throw err
      return appendBatch(pool, [item])
    }
  }

  async function appendBatch (db: pg.Pool | pg.PoolClient, batch: Item[]): Promise<AppendResult[]> {
    // One message goes as scalars to its own statement, more as one array per column.
    const one = batch.length === 1
    const column = (pick: (item: Item) => string | null) => (one ? pick(batch[0]) : batch.map(pick))
    const { rows } = await db.query<{ id: string, seq: string, created_at: Date, username: string, avatar: string | null }>({
      name: one ? 'parley-append-one' : 'parley-append-batch',
      text: one ? APPEND_ONE : APPEND_BATCH,
      values: [
        column((i) => i.message.roomId), column((i) => i.id), column((i) => i.message.userId), column((i) => i.message.username),
        column((i) => i.message.content), column((i) => i.message.avatar), column((i) => i.message.clientId ?? null),
        new Date().toISOString(), DEFAULT_USERNAME
      ]
    })
    const inserted = new Map(rows.map((row) => [row.id, row]))
    return Promise.all(batch.map(async ({ message, id }) => {
      const row = inserted.get(id)
      if (row) {
        const stored = { ...message, username: row.username, avatar: row.avatar, id, seq: Number(row.seq), timestamp: row.created_at.toISOString() }
        return { message: wireMessage(stored), created: true }
      }
      // Left out as a retry: its client_id was stored before (or earlier in this batch).
      const stored = await findByClientId(message as NewMessage & { clientId: string })
      if (!stored) throw new Error(`message ${id} was neither stored nor found by its client_id`)
      return { message: stored, created: false }
    }))
  }

  return {
    /** Takes the message now (its place in its room's order), resolves once it is committed. */
    append (message: NewMessage): Promise<AppendResult> {
      return new Promise((resolve, reject) => {
        queue.push({ message, id: uuidv7(), resolve, reject })
        schedule()
      })
    },
    /** Resolves once every append taken so far has been answered. */
    async idle (): Promise<void> {
      if (queue.length > 0 || inFlight > 0 || scheduled) await new Promise<void>((resolve) => idlers.push(resolve))
    }
  }
}

function isUniqueViolation (err: unknown): boolean {
  return (err as { code?: string }).code === '23505'
}
