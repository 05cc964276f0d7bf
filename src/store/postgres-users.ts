// Users on PostgreSQL: guests and accounts, one id space with the room profiles.
import type pg from 'pg'
import { transaction } from './postgres-schema'
import { applyPatch, ConflictError, nameKey, roomName, type User, type UserPatch, type UserStore } from './user-store'

interface UserRow {
  user_id: string
  username: string | null
  display_name: string | null
  email: string | null
  password_hash: string | null
  avatar_url: string | null
  avatar_urls: Record<string, string> | null
  bio: string | null
  fields: Record<string, string>
  created_at: Date
}

type Db = pg.Pool | pg.PoolClient

const COLUMNS = 'user_id, username, display_name, email, password_hash, avatar_url, avatar_urls, bio, fields, created_at'
const INSERT_USER = `INSERT INTO users (${COLUMNS}, name_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`
// The accounts' login names and the emails are unique indexes: a signup or a change that
// races another instance's past the checks below is refused by them, as the same conflict.
const CONFLICTS: Record<string, 'username' | 'email'> = { users_login: 'username', users_email: 'email' }

export function createPostgresUsers (pool: pg.Pool): UserStore {
  async function selectUser (db: Db, id: string, lock = ''): Promise<UserRow | undefined> {
    const { rows: [row] } = await db.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE user_id = $1 ${lock}`, [id])
    return row
  }

  /** A user built from their newest room profile (the profiles_user index, read backwards). */
  async function fromNewestProfile (db: Db, id: string): Promise<User | undefined> {
    const { rows: [profile] } = await db.query<{ username: string | null, avatar_url: string | null, joined_at: Date }>(
      'SELECT username, avatar_url, joined_at FROM profiles WHERE user_id = $1 ORDER BY joined_at DESC LIMIT 1', [id])
    if (!profile) return undefined
    return { id, username: profile.username, displayName: null, email: null, avatarUrl: profile.avatar_url, avatarUrls: null, bio: null, fields: {}, account: false, createdAt: profile.joined_at.toISOString() }
  }

  async function accountByName (db: Db, username: string): Promise<UserRow | undefined> {
    const { rows: [row] } = await db.query<UserRow>(
      `SELECT ${COLUMNS} FROM users WHERE lower(username) = lower($1) AND password_hash IS NOT NULL`, [username])
    return row
  }

  async function userByEmail (db: Db, email: string): Promise<UserRow | undefined> {
    const { rows: [row] } = await db.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE lower(email) = lower($1)`, [email])
    return row
  }

  async function checkName (db: Db, username: string | null, exceptId: string): Promise<void> {
    if (username === null) return
    const holder = await accountByName(db, username)
    if (holder && holder.user_id !== exceptId) throw new ConflictError('username')
  }

  async function checkEmail (db: Db, email: string | null, exceptId: string): Promise<void> {
    if (email === null) return
    const holder = await userByEmail(db, email)
    if (holder && holder.user_id !== exceptId) throw new ConflictError('email')
  }

  function insertValues (user: User, passwordHash: string | null): unknown[] {
    return [
      user.id, user.username, user.displayName, user.email, passwordHash, user.avatarUrl,
      json(user.avatarUrls), user.bio, JSON.stringify(user.fields), user.createdAt, nameKey(user)
    ]
  }

  return {
    async getUser (id) {
      const row = await selectUser(pool, id)
      return row ? fromRow(row) : fromNewestProfile(pool, id)
    },

    async createUser ({ id, username, email, passwordHash }) {
      const user: User = {
        id,
        username,
        displayName: null,
        email: email ?? null,
        avatarUrl: null,
        avatarUrls: null,
        bio: null,
        fields: {},
        account: passwordHash !== undefined,
        createdAt: new Date().toISOString()
      }
      return conflicts(transaction(pool, async (client) => {
        await checkName(client, username, id)
        await checkEmail(client, user.email, id)
        await client.query(INSERT_USER, insertValues(user, passwordHash ?? null))
        return user
      }))
    },

    async accountByLogin (login) {
      const row = login.includes('@') ? await userByEmail(pool, login) : await accountByName(pool, login)
      if (!row || row.password_hash === null) return undefined
      return { user: fromRow(row), passwordHash: row.password_hash }
    },

    async updateUser (id, patch) {
      return conflicts(transaction(pool, async (client) => update(client, id, patch)))
    },

    async searchUsers (prefix, limit) {
      // Unnamed, so planned with the pattern: a range of the name_key index, in its order.
      const { rows } = await pool.query<UserRow>(
        `SELECT ${COLUMNS} FROM users WHERE name_key COLLATE "C" LIKE $1 ESCAPE '\\'
          ORDER BY name_key COLLATE "C", user_id COLLATE "C" LIMIT $2`,
        [`${escapeLike(prefix.toLowerCase())}%`, limit])
      return rows.map(fromRow)
    },

    async setting (key, make) {
      await pool.query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [key, make()])
      const { rows: [row] } = await pool.query<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key])
      return row.value
    }
  }

  async function update (client: pg.PoolClient, id: string, patch: UserPatch): Promise<User | undefined> {
    let row = await selectUser(client, id, 'FOR UPDATE')
    if (!row) {
      const before = await fromNewestProfile(client, id)
      if (!before) return undefined
      // The row is made from the profile first; a concurrent update of the same user that
      // made it meanwhile wins the insert, and this one then patches (and waits for) that row.
      await client.query(`${INSERT_USER} ON CONFLICT (user_id) DO NOTHING`, insertValues(before, null))
      row = (await selectUser(client, id, 'FOR UPDATE'))!
    }
    return patchRow(client, fromRow(row), patch)
  }

  async function patchRow (client: pg.PoolClient, before: User, patch: UserPatch): Promise<User> {
    const { id } = before
    const after = applyPatch(before, patch)
    // Only what changes is checked: a user seen in rooms under an account's name can still edit the rest.
    if (after.username !== before.username) await checkName(client, after.username, id)
    if (after.email !== before.email) await checkEmail(client, after.email, id)
    await client.query(
      `UPDATE users SET username = $2, display_name = $3, email = $4, avatar_url = $5, avatar_urls = $6,
              bio = $7, fields = $8, name_key = $9
        WHERE user_id = $1`,
      [id, after.username, after.displayName, after.email, after.avatarUrl, json(after.avatarUrls), after.bio, JSON.stringify(after.fields), nameKey(after)])
    // Later messages take their name and avatar from the profile, in the append statement.
    if (roomName(after) !== roomName(before) || after.avatarUrl !== before.avatarUrl) {
      await client.query('UPDATE profiles SET username = $2, avatar_url = $3 WHERE user_id = $1', [id, roomName(after), after.avatarUrl])
    }
    return after
  }
}

/** A unique violation of the login or email index (another instance's commit won): the same ConflictError. */
async function conflicts<T> (work: Promise<T>): Promise<T> {
  try {
    return await work
  } catch (err) {
    const { code, constraint } = err as { code?: string, constraint?: string }
    const field = code === '23505' && constraint !== undefined ? CONFLICTS[constraint] : undefined
    if (field !== undefined) throw new ConflictError(field)
    throw err
  }
}

function escapeLike (text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`)
}

/** A jsonb parameter: pg would send a JavaScript array as a PostgreSQL array, so every value goes as JSON text. */
function json (value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value)
}

function fromRow (row: UserRow): User {
  return {
    id: row.user_id,
    username: row.username,
    displayName: row.display_name,
    email: row.email,
    avatarUrl: row.avatar_url,
    avatarUrls: row.avatar_urls,
    bio: row.bio,
    fields: row.fields,
    account: row.password_hash !== null,
    createdAt: row.created_at.toISOString()
  }
}
