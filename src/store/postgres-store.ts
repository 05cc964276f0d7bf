// The PostgreSQL store (pg): the RoomStore contract on a database that several instances share.
import { uuidv7 } from './ids'
import pg from 'pg'
import type { Message } from '../schemas/http'
import { mergeProfile, wireMessage, type NewMessage, type PageQuery, type Profile, type RoomStore } from './store'

export interface PostgresStoreOptions {
  connectionString: string
  /** Connections in the pool (default 10). */
  poolSize?: number
  /** A schema of its own (created if missing) instead of the connection's default search_path. */
  schema?: string
}

// Each entry moves the schema one version up; parley_schema_version records where a database is.
const MIGRATIONS = [
  `CREATE TABLE rooms (
     room_id text PRIMARY KEY,
     created_at timestamptz NOT NULL,
     last_seq bigint NOT NULL DEFAULT 0,
     name text,
     thumbnail_url text,
     last_message_at timestamptz
   );
   CREATE TABLE profiles (
     room_id text NOT NULL,
     user_id text NOT NULL,
     username text,
     avatar_url text,
     joined_at timestamptz NOT NULL,
     PRIMARY KEY (room_id, user_id)
   );
   CREATE TABLE messages (
     room_id text NOT NULL,
     seq bigint NOT NULL,
     id text NOT NULL UNIQUE,
     user_id text NOT NULL,
     username text NOT NULL,
     content text NOT NULL,
     avatar text,
     created_at timestamptz NOT NULL,
     client_id text,
     PRIMARY KEY (room_id, seq)
   );
   CREATE UNIQUE INDEX messages_client_id ON messages (room_id, user_id, client_id) WHERE client_id IS NOT NULL;`
]

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length

// One key for every Parley migration on the server ('PARLEY' in ASCII): instances starting at once take turns.
const MIGRATION_LOCK = 0x5041524c4559
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

// The room's row lock, taken by the upsert, is held until this statement commits: writers of
// one room queue on it, so seq order is commit order on every instance. GREATEST keeps a
// room's timestamps from running backwards when instances' clocks (or racing appends) disagree.
const APPEND = `
  WITH r AS (
    INSERT INTO rooms AS r (room_id, created_at, last_seq, last_message_at) VALUES ($1, $2, 1, $2)
    ON CONFLICT (room_id) DO UPDATE
      SET last_seq = r.last_seq + 1, last_message_at = GREATEST(r.last_message_at, EXCLUDED.last_message_at)
    RETURNING last_seq, last_message_at
  )
  INSERT INTO messages (room_id, seq, id, user_id, username, content, avatar, created_at, client_id)
  SELECT $1, r.last_seq, $3, $4, $5, $6, $7, r.last_message_at, $8 FROM r
  RETURNING seq, created_at`

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

interface RoomRow {
  room_id: string
  name: string | null
  thumbnail_url: string | null
  created_at: Date
  last_seq: string
  last_message_at: Date | null
  member_count: string
}

export async function createPostgresStore (opts: PostgresStoreOptions): Promise<RoomStore> {
  const { schema } = opts
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new Error(`invalid PostgreSQL schema name "${schema}": use lowercase letters, digits and _`)
  }
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.poolSize ?? 10,
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
    application_name: 'parley',
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` })
  })
  // An idle connection that breaks (a database restart) is dropped by the pool; the next
  // query reports the failure. Without a listener the error would crash the process.
  pool.on('error', () => {})
  try {
    await migrate(pool, schema)
  } catch (err) {
    await pool.end()
    throw err
  }
  let ended: Promise<void> | undefined

  async function insertMessage (message: NewMessage): Promise<Message> {
    const id = uuidv7()
    const { rows: [row] } = await pool.query<{ seq: string, created_at: Date }>({
      name: 'parley-append',
      text: APPEND,
      values: [message.roomId, new Date().toISOString(), id, message.userId, message.username,
        message.content, message.avatar, message.clientId ?? null]
    })
    return wireMessage({ ...message, id, seq: Number(row.seq), timestamp: row.created_at.toISOString() })
  }

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

  async function selectProfile (db: pg.Pool | pg.PoolClient, roomId: string, userId: string, lock = ''): Promise<Profile | undefined> {
    const { rows: [row] } = await db.query<ProfileRow>(
      `SELECT ${PROFILE_COLUMNS} FROM profiles WHERE room_id = $1 AND user_id = $2 ${lock}`, [roomId, userId])
    return row && fromProfileRow(row)
  }

  return {
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
          if (inserted.rows.length === 1) return { profile: fromProfileRow(inserted.rows[0]), created: true }
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
    async members (roomId, limit) {
      const { rows } = await pool.query<ProfileRow>(
        `SELECT ${PROFILE_COLUMNS} FROM profiles WHERE room_id = $1 ORDER BY joined_at, user_id LIMIT $2`, [roomId, limit])
      return rows.map(fromProfileRow)
    },
    async createRoom ({ id, name, thumbnailUrl }) {
      const createdAt = new Date().toISOString()
      await pool.query('INSERT INTO rooms (room_id, created_at, name, thumbnail_url) VALUES ($1, $2, $3, $4)', [id, createdAt, name, thumbnailUrl])
      return { id, name, thumbnailUrl, createdAt }
    },
    async listRooms (limit) {
      const { rows } = await pool.query<RoomRow>(
        `SELECT r.room_id, r.name, r.thumbnail_url, r.created_at, r.last_seq, r.last_message_at,
                (SELECT COUNT(*) FROM profiles p WHERE p.room_id = r.room_id) AS member_count
           FROM rooms r
          ORDER BY COALESCE(r.last_message_at, r.created_at) DESC, r.room_id
          LIMIT $1`, [limit])
      return rows.map((row) => ({
        id: row.room_id,
        name: row.name,
        thumbnailUrl: row.thumbnail_url,
        createdAt: row.created_at.toISOString(),
        memberCount: Number(row.member_count),
        lastSeq: Number(row.last_seq),
        lastMessageAt: row.last_message_at?.toISOString() ?? null
      }))
    },
    async append (message) {
      return insertMessage(message)
    },
    async appendOnce (message) {
      const stored = await selectByClientId(message)
      if (stored) return { message: stored, created: false }
      try {
        return { message: await insertMessage(message), created: true }
      } catch (err) {
        // A concurrent twin committed first. The whole statement rolled back, the room's
        // seq bump with it, so the race leaves no gap.
        if ((err as { code?: string }).code !== '23505' || (err as { constraint?: string }).constraint !== 'messages_client_id') throw err
        const winner = await selectByClientId(message)
        if (!winner) throw err
        return { message: winner, created: false }
      }
    },
    async latest (roomId, limit) {
      return readPage(roomId, { limit })
    },
    async page (roomId, query) {
      return readPage(roomId, query)
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
      ended ??= pool.end()
      return ended
    }
  }
}

async function migrate (pool: pg.Pool, schema: string | undefined): Promise<void> {
  await transaction(pool, async (client) => {
    // Taken before anything is read: two instances starting at once run each migration once.
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
    if (schema !== undefined) {
      const { rows } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
      if (rows.length === 0) await client.query(`CREATE SCHEMA ${schema}`)
      // A connection string's own `options` replace ours (pg gives it precedence): never write elsewhere.
      const { rows: [{ current }] } = await client.query<{ current: string | null }>('SELECT current_schema() AS current')
      if (current !== schema) throw new Error(`search_path does not select schema "${schema}" (is "${current}"); remove options from the connection string`)
    }
    await client.query(`CREATE TABLE IF NOT EXISTS parley_schema_version (
      version integer PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`)
    const { rows: [{ version }] } = await client.query<{ version: number }>('SELECT COALESCE(MAX(version), 0) AS version FROM parley_schema_version')
    if (version > MIGRATIONS.length) {
      throw new Error(`the database schema is version ${version}, newer than this build knows (${MIGRATIONS.length}); run a newer Parley`)
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      await client.query(MIGRATIONS[v])
      await client.query('INSERT INTO parley_schema_version (version) VALUES ($1)', [v + 1])
    }
  })
}

async function transaction<T> (pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    const result = await work(client)
    await client.query('COMMIT')
    client.release()
    return result
  } catch (err) {
    // A connection that cannot even roll back is destroyed rather than handed to the next caller.
    await client.query('ROLLBACK').then(() => client.release(), (rollbackErr: Error) => client.release(rollbackErr))
    throw err
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
