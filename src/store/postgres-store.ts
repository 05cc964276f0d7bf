// The PostgreSQL store (pg): the Store contract on a database that several instances share.
import pg from 'pg'
import { createPostgresAppender } from './postgres-append'
import { createPostgresDirect } from './postgres-direct'
import { createPostgresHistory } from './postgres-history'
import { createPostgresRooms } from './postgres-rooms'
import { migrate, SCHEMA_NAME, transaction } from './postgres-schema'
import { createPostgresUsers } from './postgres-users'

export { SCHEMA_VERSION } from './postgres-schema'
import { mergeProfile, profileFromRow, sameProfile, type Profile, type ProfileRow, type Store } from './store'

export interface PostgresStoreOptions {
  connectionString: string
  /** Connections, half of them for message writes (default 10). */
  poolSize?: number
  /** A schema of its own (created if missing) instead of the connection's default search_path. */
  schema?: string
}

const PROFILE_COLUMNS = 'room_id, user_id, username, avatar_url, joined_at'

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
  const history = createPostgresHistory(pool)
  const appender = createPostgresAppender({ pool: writePool, parallel: writers, findByClientId: history.selectByClientId })

  async function selectProfile (db: pg.Pool | pg.PoolClient, roomId: string, userId: string, lock = ''): Promise<Profile | undefined> {
    const { rows: [row] } = await db.query<ProfileRow>(
      `SELECT ${PROFILE_COLUMNS} FROM profiles WHERE room_id = $1 AND user_id = $2 ${lock}`, [roomId, userId])
    return row && profileFromRow(row)
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
      if (seen && sameProfile(seen, mergeProfile(seen, values, mode))) return { profile: seen, created: false }
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
            return { profile: profileFromRow(inserted.rows[0]), created: true }
          }
          // A concurrent first upsert committed in between: merge into its row instead.
          current = (await selectProfile(client, roomId, userId, 'FOR UPDATE'))!
        }
        const profile: Profile = { ...current, ...mergeProfile(current, values, mode) }
        if (!sameProfile(current, profile)) {
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
      const found = new Map(rows.map((row) => [row.user_id, profileFromRow(row)]))
      return userIds.map((userId) => found.get(userId))
    },
    async members (roomId, limit) {
      const { rows } = await pool.query<ProfileRow>(
        `SELECT ${PROFILE_COLUMNS} FROM profiles WHERE room_id = $1 ORDER BY joined_at, user_id LIMIT $2`, [roomId, limit])
      return rows.map(profileFromRow)
    },
    async append (message) {
      return (await appender.append(message)).message
    },
    async appendOnce (message) {
      return appender.append(message)
    },
    async latest (roomId, limit) {
      return history.readPage(roomId, { limit })
    },
    async page (roomId, query) {
      return history.readPage(roomId, query)
    },
    async pageJson (roomId, query) {
      return history.readJson(roomId, query)
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
