// The SQLite store (better-sqlite3, WAL): the embedded default, group commit per event-loop turn.
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { messageId, seqInMessageId } from './ids'
import { CHECKPOINT_PAGES, startCheckpointer, type CheckpointerOptions } from './sqlite-checkpointer'
import { createGroupCommit } from './sqlite-commit'
import { migrate } from './sqlite-schema'
import type { Message } from '../schemas/http'
import { DEFAULT_USERNAME } from '../chat/text'
import { createSqliteDirect } from './sqlite-direct'
import { createSqliteHistory } from './sqlite-history'
import { createSqliteProfiles } from './sqlite-profiles'
import { createSqliteRooms } from './sqlite-rooms'
import { createSqliteUsers } from './sqlite-users'
import { mergeProfile, sameProfile, type NewMessage, type Store } from './store'
import { messageJson, wireMessage } from './wire-message'

export interface SqliteStoreOptions {
  /** A file path, or `:memory:`. */
  filename: string
  synchronous?: 'normal' | 'full'
  /**
   * At most one commit per this many ms: under load, the appends that arrive
   * meanwhile share the next commit. An idle store commits at once. 0: every loop turn.
   */
  commitIntervalMs?: number
  /** A file database's checkpoints run on a worker thread (sqlite-checkpointer.ts); false: in the commits. */
  checkpoint?: CheckpointerOptions | false
}

export { SCHEMA_VERSION } from './sqlite-schema'

// A connect's new profile waits this long for others to share its commit: a deploy's
// reconnect storm brings thousands of new or changed profiles a second, and a commit
// each was a tenth of a connect's cost. Any other write (a message) commits them at once.
const PROFILE_WAIT_MS = 5

export function createSqliteStore (opts: SqliteStoreOptions): Store {
  if (opts.filename !== ':memory:') mkdirSync(dirname(opts.filename), { recursive: true })
  const db = new Database(opts.filename)
  db.pragma('journal_mode = WAL')
  // NORMAL in WAL mode survives a process crash (kill -9); FULL also survives power loss.
  db.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`)
  db.pragma('busy_timeout = 5000')
  // For a file a worker thread does the copying (sqlite-checkpointer.ts: 4000 pages are
  // ~20-30 ms of the thread that copies them); otherwise the commits do. The WAL file is
  // cut back to 32 MB after a checkpoint if a long reader made it grow past that.
  db.pragma('journal_size_limit = 33554432')
  migrate(db)
  const checkpointer = opts.filename === ':memory:' || opts.checkpoint === false
    ? undefined
    : startCheckpointer(db, opts.filename, { restartFrames: CHECKPOINT_PAGES, ...opts.checkpoint })
  if (checkpointer === undefined) db.pragma(`wal_autocheckpoint = ${CHECKPOINT_PAGES}`)

  const selectMaxSeq = db.prepare<[string], { seq: number }>('SELECT seq FROM messages WHERE room_id = ? ORDER BY seq DESC LIMIT 1')
  const insertMessage = db.prepare<[string, number, string, string, string, string, string | null, string, string | null, string]>(
    `INSERT INTO messages (room_id, seq, id, user_id, username, content, avatar, created_at, client_id, json)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
  )
  const history = createSqliteHistory(db)
  const profiles = createSqliteProfiles(db, (roomId) => history.forget(roomId))
  const { profileOf } = profiles
  // A message id carries its seq: one primary-key probe checks it. Ids from before
  // schema version 3 are looked up in message_ids.
  const selectSeqAt = db.prepare<[string, number, string], { seq: number }>('SELECT seq FROM messages WHERE room_id = ? AND seq = ? AND id = ?')
  const selectLegacySeq = db.prepare<[string, string], { seq: number }>('SELECT seq FROM message_ids WHERE id = ? AND room_id = ?')
  const writeActivity = db.prepare<[string, string, number, string]>(
    `INSERT INTO rooms (room_id, created_at, last_seq, last_message_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (room_id) DO UPDATE SET last_seq = excluded.last_seq, last_message_at = excluded.last_message_at`
  )

  // Each room's last seq, kept here because this process is the file's only writer
  // (the messages' primary key is the truth, read when unknown). The room row's copy
  // (for the listing) is written once per room per commit, not once per message.
  const seqs = new Map<string, number>()
  const SEQ_CACHE = 100_000
  function lastSeqOf (roomId: string): number {
    const cached = seqs.get(roomId)
    if (cached !== undefined) return cached
    const last = selectMaxSeq.get(roomId)?.seq ?? 0
    if (seqs.size >= SEQ_CACHE) seqs.clear()
    seqs.set(roomId, last)
    return last
  }

  // Plain functions, run inside the batch's one transaction (a nested db.transaction
  // would add a SAVEPOINT per message).
  const appendRow = (message: NewMessage): Message => {
    const now = Date.now()
    const timestamp = new Date(now).toISOString()
    const seq = lastSeqOf(message.roomId) + 1
    seqs.set(message.roomId, seq)
    const id = messageId(seq, now)
    const profile = message.username === null || message.avatar === null ? profileOf(message.roomId, message.userId) : undefined
    const username = message.username ?? profile?.username ?? DEFAULT_USERNAME
    const avatar = message.avatar ?? profile?.avatarUrl ?? null
    const wire = wireMessage({ ...message, username, avatar, id, seq, timestamp })
    insertMessage.run(message.roomId, seq, id, message.userId, username, message.content, avatar, timestamp, message.clientId ?? null, messageJson(wire))
    activity.set(message.roomId, { seq, timestamp })
    history.forget(message.roomId)
    return wire
  }

  // The rooms appended to in the commit being built, and their newest message.
  const activity = new Map<string, { seq: number, timestamp: string }>()
  function recordActivity (): void {
    for (const [roomId, { seq, timestamp }] of activity) writeActivity.run(roomId, timestamp, seq, timestamp)
    activity.clear()
  }

  // Check and insert in one transaction: two concurrent retries cannot both insert.
  const appendOnceRow = (message: NewMessage & { clientId: string }) => {
    const existing = history.byClientId(message.roomId, message.userId, message.clientId)
    if (existing) return { message: existing, created: false }
    return { message: appendRow(message), created: true }
  }

  // The seqs handed out and the profiles kept by a rolled-back batch are void: the file is the truth again.
  function rolledBack (): void {
    seqs.clear()
    activity.clear()
    profiles.forget()
  }

  // Group commit: the writes of one turn of the event loop share one transaction.
  const { write, close: closeCommits } = createGroupCommit(db, {
    commitIntervalMs: opts.commitIntervalMs ?? 0,
    lazyWaitMs: PROFILE_WAIT_MS,
    beforeCommit: recordActivity,
    rolledBack
  })

  // A user's new name or avatar rewrites their room profiles: the cache starts over.
  const users = createSqliteUsers(db, () => {
    profiles.forget()
    history.forgetAll()
  })

  return {
    ...users,
    ...createSqliteDirect(db, write),
    ...createSqliteRooms(db),
    async upsertProfile (roomId, userId, values, mode) {
      // A reconnect that changes nothing (after a deploy, every user at once) is a
      // read, no transaction: a stored profile's row (and room) exists, this process is
      // the file's only writer, and nothing is deleted.
      const cached = profileOf(roomId, userId)
      if (cached && sameProfile(cached, mergeProfile(cached, values, mode))) return { profile: cached, created: false }
      return write(() => profiles.upsertInBatch(roomId, userId, values, mode), true)
    },
    async getProfile (roomId, userId) {
      return profileOf(roomId, userId)
    },
    async getProfiles (roomId, userIds) {
      return userIds.map((userId) => profileOf(roomId, userId))
    },
    async members (roomId, limit) {
      return profiles.members(roomId, limit)
    },
    async append (message) {
      return write(() => appendRow(message))
    },
    async appendOnce (message) {
      return write(() => appendOnceRow(message))
    },
    async latest (roomId, limit) {
      return history.page(roomId, { limit })
    },
    async page (roomId, query) {
      return history.page(roomId, query)
    },
    async pageJson (roomId, query) {
      return history.pageJson(roomId, query)
    },
    async seqOf (roomId, id) {
      const seq = seqInMessageId(id)
      if (seq !== undefined && selectSeqAt.get(roomId, seq, id) !== undefined) return seq
      return selectLegacySeq.get(id, roomId)?.seq
    },
    async lastSeq (roomId) {
      return lastSeqOf(roomId)
    },
    async ping () {
      db.prepare('SELECT 1').get()
    },
    async close () {
      closeCommits()
      await checkpointer?.stop()
      if (db.open) db.close()
    }
  }
}
