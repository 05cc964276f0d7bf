// PostgreSQL group commit: the appends that arrive together go in one statement, seqs allocated once per room.
import type pg from 'pg'
import type { Message } from '../schemas/http'
import { DEFAULT_USERNAME } from '../chat/text'
import { uuidv7 } from './ids'
import { APPEND_BATCH, APPEND_ONE } from './postgres-append-sql'
import type { NewMessage } from './store'
import { wireMessage } from './wire-message'

export interface AppendResult {
  message: Message
  created: boolean
}

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
    const { rows } = await db.query<{ id: string, seq: string, timestamp: string, username: string, avatar: string | null, json: string }>({
      name: one ? 'parley-append-one' : 'parley-append-batch',
      text: one ? APPEND_ONE : APPEND_BATCH,
      values: [
        column((i) => i.message.roomId), column((i) => i.id), column((i) => i.message.userId), column((i) => i.message.username),
        column((i) => i.message.content), column((i) => i.message.avatar), column((i) => i.message.clientId ?? null),
        new Date().toISOString(), DEFAULT_USERNAME
      ]
    })
    const inserted = new Map(rows.map((row) => [row.id, row]))
    const results: AppendResult[] = new Array(batch.length)
    const retries: number[] = []
    for (let i = 0; i < batch.length; i++) {
      const { message, id } = batch[i]
      const row = inserted.get(id)
      if (row === undefined) retries.push(i)
      else {
        // The statement's JSON is the message's: stored, answered and published as it is.
        const stored = { ...message, username: row.username, avatar: row.avatar, id, seq: Number(row.seq), timestamp: row.timestamp }
        results[i] = { message: wireMessage(stored, row.json), created: true }
      }
    }
    // Left out as a retry: its client_id was stored before (or earlier in this batch).
    await Promise.all(retries.map(async (i) => {
      const { message, id } = batch[i]
      const stored = await findByClientId(message as NewMessage & { clientId: string })
      if (!stored) throw new Error(`message ${id} was neither stored nor found by its client_id`)
      results[i] = { message: stored, created: false }
    }))
    return results
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
