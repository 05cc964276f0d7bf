// The PostgreSQL store (pg): the Store contract on a database that several instances share.
import pg from 'pg'
import { createPostgresAppender } from './postgres-append'
import { createPostgresDirect } from './postgres-direct'
import { createPostgresRooms } from './postgres-rooms'
import { createPageCache } from './page-cache'
import { migrate, SCHEMA_NAME, transaction } from './postgres-schema'
import { createPostgresUsers } from './postgres-users'

export { SCHEMA_VERSION } from './postgres-schema'
import type { Message } from '../schemas/http'
import { mergeProfile, type NewMessage, type PageQuery, type Profile, type Store } from './store'
import { wireMessage, withAvatar } from './wire-message'

export interface PostgresStoreOptions {
  connectionString: string
  /** Connections, half of them for message writes (default 10). */
  poolSize?: number
  /** A schema of its own (created if missing) instead of the connection's default search_path. */
  schema?: string
}

// Every read is a range of the (room_id, seq) primary key: its cost does not grow with the history.
// The avatar fill is SQLite's LEFT JOIN on the profile's key, written as a scalar subquery: it
// runs only for a message without an avatar, and a prepared statement's generic plan cannot
// turn it into a scan of every profile of the room (which the join's did for afterSeq pages).
const COLUMNS = `m.client_id, m.seq, m.id, m.room_id, m.user_id, m.username, m.content,
    COALESCE(m.avatar, (SELECT p.avatar_url FROM profiles p WHERE p.room_id = m.room_id AND p.user_id = m.user_id)) AS avatar,
    m.created_at
  FROM messages m`
const SELECT_BEFORE = `SELECT ${COLUMNS} WHERE m.room_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3`
const SELECT_AFTER = `SELECT ${COLUMNS} WHERE m.room_id = $1 AND m.seq > $2 AND m.seq < $3 ORDER BY m.seq LIMIT $4`
const SELECT_BY_CLIENT_ID = `SELECT ${COLUMNS} WHERE m.room_id = $1 AND m.user_id = $2 AND m.client_id = $3`
// A page as stored JSON; the profile is read only for a message stored without an avatar.
const JSON_COLUMNS = `m.json, CASE WHEN m.avatar IS NULL THEN
    (SELECT p.avatar_url FROM profiles p WHERE p.room_id = m.room_id AND p.user_id = m.user_id) END
  FROM messages m`
const SELECT_JSON_BEFORE = `SELECT ${JSON_COLUMNS} WHERE m.room_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3`
// The room's version (its last seq and the writes to its profiles) as of the page's own
// snapshot: what a kept page is checked against, one row of the rooms table.
const ROOM_VERSION = "(SELECT r.last_seq::text || ':' || r.fill_version::text FROM rooms r WHERE r.room_id = $1)"
const SELECT_JSON_NEWEST = `SELECT m.json, CASE WHEN m.avatar IS NULL THEN
    (SELECT p.avatar_url FROM profiles p WHERE p.room_id = m.room_id AND p.user_id = m.user_id) END, ${ROOM_VERSION}
  FROM messages m WHERE m.room_id = $1 ORDER BY m.seq DESC LIMIT $2`
const SELECT_ROOM_VERSION = `SELECT ${ROOM_VERSION}`
const SELECT_JSON_AFTER = `SELECT ${JSON_COLUMNS} WHERE m.room_id = $1 AND m.seq > $2 AND m.seq < $3 ORDER BY m.seq LIMIT $4`
const PROFILE_COLUMNS = 'room_id, user_id, username, avatar_url, joined_at'
interface MessageRow {
  client_id: string | null
  seq: string
  id: string
  room_id: string
  user_id: string
  username: string
  content: string
  avatar: string | null
  created_at: Date
}

interface ProfileRow {
  room_id: string
  user_id: string
  username: string | null
  avatar_url: string | null
  joined_at: Date
}

export async function createPostgresStore (opts: PostgresStoreOptions): Promise<Store> {
  const { schema } = opts
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new Error(`invalid PostgreSQL schema name "${schema}": use lowercase letters, digits and _`)
  }
  // PG_POOL_SIZE is split: half writes messages (a batch per connection), the rest serves
  // everything else, so reads never wait behind a busy room's commits, nor writes behind reads.
  const size = opts.poolSize ?? 10
  const writers = Math.max(1, Math.floor(size / 2))
  const connect = (max: number, options: string[]) => {
    const created = new pg.Pool({
      connectionString: opts.connectionString,
      max,
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
      application_name: 'parley',
      ...(options.length === 0 ? {} : { options: options.join(' ') })
    })
    // An idle connection that breaks (a database restart) is dropped by the pool; the next
    // query reports the failure. Without a listener the error would crash the process.
    created.on('error', () => {})
    return created
  }
  const searchPath = schema === undefined ? [] : [`-c search_path=${schema}`]
  const pool = connect(Math.max(1, size - writers), searchPath)
  try {
    await migrate(pool, schema)
  } catch (err) {
    await pool.end()
    throw err
  }
  // The append statement with a generic plan, always: PostgreSQL's own choice re-plans it
  // at every run for small batches (a quiet room's one message), which costs the
  // database three times the statement's work (docs/performance.md).
  const writePool = connect(writers, [...searchPath, '-c plan_cache_mode=force_generic_plan'])
  let ended: Promise<void> | undefined
  const appender = createPostgresAppender({ pool: writePool, parallel: writers, findByClientId: selectByClientId })

  async function selectByClientId (message: NewMessage & { clientId: string }): Promise<Message | undefined> {
    const { rows: [row] } = await pool.query<MessageRow>({
      name: 'parley-select-client-id',
      text: SELECT_BY_CLIENT_ID,
      values: [message.roomId, message.userId, message.clientId]
    })
    return row && fromMessageRow(row)
  }

  async function readPage (roomId: string, { limit, beforeSeq, afterSeq }: PageQuery): Promise<Message[]> {
    const upper = beforeSeq ?? Number.MAX_SAFE_INTEGER
    if (afterSeq !== undefined) {
      const { rows } = await pool.query<MessageRow>({ name: 'parley-page-after', text: SELECT_AFTER, values: [roomId, afterSeq, upper, limit] })
      return rows.map(fromMessageRow)
    }
    const { rows } = await pool.query<MessageRow>({ name: 'parley-page-before', text: SELECT_BEFORE, values: [roomId, upper, limit] })
    return rows.reverse().map(fromMessageRow)
  }

  // Newest pages, kept while their room's version is unchanged: other instances write
  // too, so each is checked against the room's row before it is served again (one small
  // read instead of the page's rows).
  const newest = createPageCache<string>()

  async function readNewest (roomId: string, limit: number): Promise<readonly string[]> {
    const kept = newest.get(roomId, limit)
    if (kept) {
      const { rows: [[version]] } = await pool.query<[string | null]>({ name: 'parley-room-version', text: SELECT_ROOM_VERSION, values: [roomId], rowMode: 'array' })
      if (version === kept.tag) return kept.page
    }
    const { rows } = await pool.query<[string, string | null, string]>({ name: 'parley-json-newest', text: SELECT_JSON_NEWEST, values: [roomId, limit], rowMode: 'array' })
    const page = new Array<string>(rows.length)
    const last = rows.length - 1
    for (let i = 0; i <= last; i++) {
      const [json, avatarFill] = rows[i]
      page[last - i] = avatarFill === null ? json : withAvatar(json, avatarFill)
    }
    if (rows.length > 0) newest.set(roomId, limit, page, rows[0][2])
    return page
  }

  async function readJson (roomId: string, { limit, beforeSeq, afterSeq }: PageQuery): Promise<readonly string[]> {
    if (beforeSeq === undefined && afterSeq === undefined) return readNewest(roomId, limit)
    const upper = beforeSeq ?? Number.MAX_SAFE_INTEGER
    const { rows } = afterSeq === undefined
      ? await pool.query<[string, string | null]>({ name: 'parley-json-before', text: SELECT_JSON_BEFORE, values: [roomId, upper, limit], rowMode: 'array' })
      : await pool.query<[string, string | null]>({ name: 'parley-json-after', text: SELECT_JSON_AFTER, values: [roomId, afterSeq, upper, limit], rowMode: 'array' })
    const page = new Array<string>(rows.length)
    const last = rows.length - 1
    for (let i = 0; i <= last; i++) {
      const [json, avatarFill] = rows[i]
      page[afterSeq === undefined ? last - i : i] = avatarFill === null ? json : withAvatar(json, avatarFill)
    }
    return page
  }

  async function selectProfile (db: pg.Pool | pg.PoolClient, roomId: string, userId: string, lock = ''): Promise<Profile | undefined> {
    const { rows: [row] } = await db.query<ProfileRow>(
      `SELECT ${PROFILE_COLUMNS} FROM profiles WHERE room_id = $1 AND user_id = $2 ${lock}`, [roomId, userId])
    return row && fromProfileRow(row)
  }

  const users = createPostgresUsers(pool)
  const direct = createPostgresDirect(pool)
  const rooms = createPostgresRooms(pool)

  return {
    ...users,
    ...direct,
    ...rooms,
    async upsertProfile (roomId, userId, values, mode) {
      // A reconnect that brings nothing new (the common case) needs no transaction.
      const seen = await selectProfile(pool, roomId, userId)
      if (seen && unchanged(seen, mergeProfile(seen, values, mode))) return { profile: seen, created: false }
      return transaction(pool, async (client) => {
        let current = await selectProfile(client, roomId, userId, 'FOR UPDATE')
        if (!current) {
          const now = new Date().toISOString()
          await client.query('INSERT INTO rooms (room_id, created_at) VALUES ($1, $2) ON CONFLICT (room_id) DO NOTHING', [roomId, now])
          const merged = mergeProfile(undefined, values, mode)
          const inserted = await client.query<ProfileRow>(
            `INSERT INTO profiles (${PROFILE_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (room_id, user_id) DO NOTHING RETURNING ${PROFILE_COLUMNS}`,
            [roomId, userId, merged.username, merged.avatarUrl, now])
          if (inserted.rows.length === 1) {
            await client.query('UPDATE rooms SET member_count = member_count + 1 WHERE room_id = $1', [roomId])
            return { profile: fromProfileRow(inserted.rows[0]), created: true }
          }
          // A concurrent first upsert committed in between: merge into its row instead.
          current = (await selectProfile(client, roomId, userId, 'FOR UPDATE'))!
        }
        const profile: Profile = { ...current, ...mergeProfile(current, values, mode) }
        if (!unchanged(current, profile)) {
          await client.query('UPDATE profiles SET username = $3, avatar_url = $4 WHERE room_id = $1 AND user_id = $2',
            [roomId, userId, profile.username, profile.avatarUrl])
        }
        return { profile, created: false }
      })
    },
    async getProfile (roomId, userId) {
      return selectProfile(pool, roomId, userId)
    },
    async getProfiles (roomId, userIds) {
      if (userIds.length === 0) return []
      const { rows } = await pool.query<ProfileRow>(
        `SELECT ${PROFILE_COLUMNS} FROM profiles WHERE room_id = $1 AND user_id = ANY($2::text[])`, [roomId, userIds])
      const found = new Map(rows.map((row) => [row.user_id, fromProfileRow(row)]))
      return userIds.map((userId) => found.get(userId))
    },
    async members (roomId, limit) {
      const { rows } = await pool.query<ProfileRow>(
        `SELECT ${PROFILE_COLUMNS} FROM profiles WHERE room_id = $1 ORDER BY joined_at, user_id LIMIT $2`, [roomId, limit])
      return rows.map(fromProfileRow)
    },
    async append (message) {
      return (await appender.append(message)).message
    },
    async appendOnce (message) {
      return appender.append(message)
    },
    async latest (roomId, limit) {
      return readPage(roomId, { limit })
    },
    async page (roomId, query) {
      return readPage(roomId, query)
    },
    async pageJson (roomId, query) {
      return readJson(roomId, query)
    },
    async seqOf (roomId, messageId) {
      const { rows: [row] } = await pool.query<{ seq: string }>('SELECT seq FROM messages WHERE id = $1 AND room_id = $2', [messageId, roomId])
      return row && Number(row.seq)
    },
    async lastSeq (roomId) {
      const { rows: [row] } = await pool.query<{ last_seq: string }>('SELECT last_seq FROM rooms WHERE room_id = $1', [roomId])
      return row ? Number(row.last_seq) : 0
    },
    async ping () {
      await pool.query('SELECT 1')
    },
    async close () {
      // What was taken is committed (or refused) before the pool goes.
      ended ??= appender.idle().then(() => Promise.all([writePool.end(), pool.end()])).then(() => {})
      return ended
    }
  }
}

function unchanged (current: Profile, merged: { username: string | null, avatarUrl: string | null }): boolean {
  return current.username === merged.username && current.avatarUrl === merged.avatarUrl
}

function fromMessageRow (row: MessageRow): Message {
  return wireMessage({
    id: row.id,
    seq: Number(row.seq),
    timestamp: row.created_at.toISOString(),
    roomId: row.room_id,
    userId: row.user_id,
    username: row.username,
    content: row.content,
    avatar: row.avatar,
    clientId: row.client_id ?? undefined
  })
}

function fromProfileRow (row: ProfileRow): Profile {
  return {
    roomId: row.room_id,
    userId: row.user_id,
    username: row.username,
    avatarUrl: row.avatar_url,
    joinedAt: row.joined_at.toISOString()
  }
}
