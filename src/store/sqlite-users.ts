// Users on SQLite: guests and accounts, one id space with the room profiles.
import type Database from 'better-sqlite3'
import { applyPatch, ConflictError, nameKey, roomName, type User, type UserPatch, type UserStore } from './user-store'

interface UserRow {
  user_id: string
  username: string | null
  display_name: string | null
  email: string | null
  password_hash: string | null
  avatar_url: string | null
  avatar_urls: string | null
  bio: string | null
  fields: string
  created_at: string
}

/**
 * `onProfilesChanged(userId)`: a user's room profiles were rewritten (a new name or
 * avatar), so a cache of them must forget that user.
 */
export function createSqliteUsers (db: Database.Database, onProfilesChanged: (userId: string) => void): UserStore {
  const COLUMNS = 'user_id, username, display_name, email, password_hash, avatar_url, avatar_urls, bio, fields, created_at'
  const selectUser = db.prepare<[string], UserRow>(`SELECT ${COLUMNS} FROM users WHERE user_id = ?`)
  const selectNewestProfile = db.prepare<[string], { username: string | null, avatar_url: string | null, joined_at: string }>(
    'SELECT username, avatar_url, joined_at FROM profiles WHERE user_id = ? ORDER BY joined_at DESC LIMIT 1')
  const selectAccountByName = db.prepare<[string], UserRow>(`SELECT ${COLUMNS} FROM users WHERE lower(username) = lower(?) AND password_hash IS NOT NULL`)
  const selectByEmail = db.prepare<[string], UserRow>(`SELECT ${COLUMNS} FROM users WHERE lower(email) = lower(?)`)
  const insertUser = db.prepare(`INSERT INTO users (${COLUMNS}, name_key)
    VALUES (@user_id, @username, @display_name, @email, @password_hash, @avatar_url, @avatar_urls, @bio, @fields, @created_at, @name_key)`)
  const updateRow = db.prepare(`UPDATE users SET username = @username, display_name = @display_name, email = @email,
    avatar_url = @avatar_url, avatar_urls = @avatar_urls, bio = @bio, fields = @fields, name_key = @name_key WHERE user_id = @user_id`)
  const updateProfiles = db.prepare('UPDATE profiles SET username = ?, avatar_url = ? WHERE user_id = ?')
  // A prefix range of the name_key index: its cost follows the matches, not the table.
  const search = db.prepare<[string, string, number], UserRow>(`SELECT ${COLUMNS} FROM users WHERE name_key >= ? AND name_key < ? ORDER BY name_key, user_id LIMIT ?`)
  const selectSetting = db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?')
  const insertSetting = db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING')

  function userOf (id: string): { user: User, stored: boolean } | undefined {
    const row = selectUser.get(id)
    if (row) return { user: fromRow(row), stored: true }
    const profile = selectNewestProfile.get(id)
    if (!profile) return undefined
    return {
      stored: false,
      user: { id, username: profile.username, displayName: null, email: null, avatarUrl: profile.avatar_url, avatarUrls: null, bio: null, fields: {}, account: false, createdAt: profile.joined_at }
    }
  }

  function checkName (username: string | null, exceptId: string): void {
    if (username === null) return
    const holder = selectAccountByName.get(username)
    if (holder && holder.user_id !== exceptId) throw new ConflictError('username')
  }

  function checkEmail (email: string | null, exceptId: string): void {
    if (email === null) return
    const holder = selectByEmail.get(email)
    if (holder && holder.user_id !== exceptId) throw new ConflictError('email')
  }

  const create = db.transaction((user: { id: string, username: string, email?: string, passwordHash?: string }): User => {
    checkName(user.username, user.id)
    checkEmail(user.email ?? null, user.id)
    const row: UserRow = {
      user_id: user.id,
      username: user.username,
      display_name: null,
      email: user.email ?? null,
      password_hash: user.passwordHash ?? null,
      avatar_url: null,
      avatar_urls: null,
      bio: null,
      fields: '{}',
      created_at: new Date().toISOString()
    }
    insertUser.run({ ...row, name_key: user.username.toLowerCase() })
    return fromRow(row)
  })

  const update = db.transaction((id: string, patch: UserPatch): User | undefined => {
    const found = userOf(id)
    if (!found) return undefined
    const before = found.user
    const after = applyPatch(before, patch)
    // Only what changes is checked: a user seen in rooms under an account's name can still edit the rest.
    if (after.username !== before.username) checkName(after.username, id)
    if (after.email !== before.email) checkEmail(after.email, id)
    const row = {
      user_id: id,
      username: after.username,
      display_name: after.displayName,
      email: after.email,
      avatar_url: after.avatarUrl,
      avatar_urls: after.avatarUrls === null ? null : JSON.stringify(after.avatarUrls),
      bio: after.bio,
      fields: JSON.stringify(after.fields),
      name_key: nameKey(after)
    }
    if (found.stored) updateRow.run(row)
    else insertUser.run({ ...row, password_hash: null, created_at: before.createdAt })
    if (roomName(after) !== roomName(before) || after.avatarUrl !== before.avatarUrl) {
      updateProfiles.run(roomName(after), after.avatarUrl, id)
      onProfilesChanged(id)
    }
    return after
  })

  return {
    async getUser (id) {
      return userOf(id)?.user
    },
    async createUser (user) {
      return create(user)
    },
    async accountByLogin (login) {
      const row = login.includes('@') ? selectByEmail.get(login) : selectAccountByName.get(login)
      if (!row || row.password_hash === null) return undefined
      return { user: fromRow(row), passwordHash: row.password_hash }
    },
    async updateUser (id, patch) {
      return update(id, patch)
    },
    async searchUsers (prefix, limit) {
      const key = prefix.toLowerCase()
      return search.all(key, `${key}\uffff`, limit).map(fromRow)
    },
    async setting (key, make) {
      insertSetting.run(key, make())
      return selectSetting.get(key)!.value
    }
  }
}

function fromRow (row: UserRow): User {
  return {
    id: row.user_id,
    username: row.username,
    displayName: row.display_name,
    email: row.email,
    avatarUrl: row.avatar_url,
    avatarUrls: row.avatar_urls === null ? null : JSON.parse(row.avatar_urls),
    bio: row.bio,
    fields: JSON.parse(row.fields),
    account: row.password_hash !== null,
    createdAt: row.created_at
  }
}
