import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { randomUUID } from 'node:crypto'
import Database from 'better-sqlite3'
import type { Message } from './schemas'
import { mergeProfile, type NewMessage, type Profile, type RoomStore } from './store'

export interface SqliteStoreOptions {
  /** A file path, or `:memory:`. */
  filename: string
  synchronous?: 'normal' | 'full'
}

// Each entry moves the schema one version up; PRAGMA user_version records where a file is.
const MIGRATIONS = [
  `CREATE TABLE rooms (
     room_id TEXT PRIMARY KEY,
     created_at TEXT NOT NULL,
     last_seq INTEGER NOT NULL DEFAULT 0
   ) WITHOUT ROWID;
   CREATE TABLE profiles (
     room_id TEXT NOT NULL,
     user_id TEXT NOT NULL,
     username TEXT,
     avatar_url TEXT,
     joined_at TEXT NOT NULL,
     PRIMARY KEY (room_id, user_id)
   ) WITHOUT ROWID;
   CREATE TABLE messages (
     room_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     id TEXT NOT NULL UNIQUE,
     user_id TEXT NOT NULL,
     username TEXT NOT NULL,
     content TEXT NOT NULL,
     avatar TEXT,
     created_at TEXT NOT NULL,
     PRIMARY KEY (room_id, seq)
   ) WITHOUT ROWID;`
]

interface MessageRow {
  seq: number
  id: string
  room_id: string
  user_id: string
  username: string
  content: string
  avatar: string | null
  created_at: string
}

interface ProfileRow {
  room_id: string
  user_id: string
  username: string | null
  avatar_url: string | null
  joined_at: string
}

export function createSqliteStore (opts: SqliteStoreOptions): RoomStore {
  if (opts.filename !== ':memory:') mkdirSync(dirname(opts.filename), { recursive: true })
  const db = new Database(opts.filename)
  db.pragma('journal_mode = WAL')
  // NORMAL in WAL mode survives a process crash (kill -9); FULL also survives power loss.
  db.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`)
  db.pragma('busy_timeout = 5000')
  migrate(db)

  const bumpSeq = db.prepare<[string, string], { last_seq: number }>(
    `INSERT INTO rooms (room_id, created_at, last_seq) VALUES (?, ?, 1)
     ON CONFLICT (room_id) DO UPDATE SET last_seq = last_seq + 1
     RETURNING last_seq`
  )
  const insertMessage = db.prepare(
    `INSERT INTO messages (room_id, seq, id, user_id, username, content, avatar, created_at)
     VALUES (@room_id, @seq, @id, @user_id, @username, @content, @avatar, @created_at)`
  )
  const selectLatest = db.prepare<[string, number], MessageRow>(
    `SELECT m.seq, m.id, m.room_id, m.user_id, m.username, m.content,
            COALESCE(m.avatar, p.avatar_url) AS avatar, m.created_at
       FROM messages m
       LEFT JOIN profiles p ON p.room_id = m.room_id AND p.user_id = m.user_id
      WHERE m.room_id = ?
      ORDER BY m.seq DESC
      LIMIT ?`
  )
  const ensureRoom = db.prepare('INSERT INTO rooms (room_id, created_at) VALUES (?, ?) ON CONFLICT (room_id) DO NOTHING')
  const selectProfile = db.prepare<[string, string], ProfileRow>(
    'SELECT room_id, user_id, username, avatar_url, joined_at FROM profiles WHERE room_id = ? AND user_id = ?'
  )
  const upsertProfileRow = db.prepare(
    `INSERT INTO profiles (room_id, user_id, username, avatar_url, joined_at)
     VALUES (@room_id, @user_id, @username, @avatar_url, @joined_at)
     ON CONFLICT (room_id, user_id) DO UPDATE SET username = excluded.username, avatar_url = excluded.avatar_url`
  )

  const appendTx = db.transaction((message: NewMessage): Message => {
    const timestamp = new Date().toISOString()
    const { last_seq: seq } = bumpSeq.get(message.roomId, timestamp)!
    const id = randomUUID()
    insertMessage.run({
      room_id: message.roomId,
      seq,
      id,
      user_id: message.userId,
      username: message.username,
      content: message.content,
      avatar: message.avatar,
      created_at: timestamp
    })
    return toMessage({ ...message, id, seq, timestamp })
  })

  const upsertProfileTx = db.transaction((roomId: string, userId: string, values, mode) => {
    const now = new Date().toISOString()
    ensureRoom.run(roomId, now)
    const row = selectProfile.get(roomId, userId)
    const current = row && fromProfileRow(row)
    const merged = mergeProfile(current, values, mode)
    const profile: Profile = { roomId, userId, ...merged, joinedAt: current?.joinedAt ?? now }
    if (!current || current.username !== profile.username || current.avatarUrl !== profile.avatarUrl) {
      upsertProfileRow.run({
        room_id: roomId,
        user_id: userId,
        username: profile.username,
        avatar_url: profile.avatarUrl,
        joined_at: profile.joinedAt
      })
    }
    return { profile, created: !current }
  })

  return {
    async upsertProfile (roomId, userId, values, mode) {
      return upsertProfileTx(roomId, userId, values, mode)
    },
    async getProfile (roomId, userId) {
      const row = selectProfile.get(roomId, userId)
      return row && fromProfileRow(row)
    },
    async append (message) {
      return appendTx(message)
    },
    async latest (roomId, limit) {
      const rows = selectLatest.all(roomId, limit)
      const messages = new Array<Message>(rows.length)
      for (let i = 0; i < rows.length; i++) messages[rows.length - 1 - i] = fromMessageRow(rows[i])
      return messages
    },
    async ping () {
      db.prepare('SELECT 1').get()
    },
    async close () {
      if (db.open) db.close()
    }
  }
}

function migrate (db: Database.Database): void {
  // IMMEDIATE takes the write lock before reading the version: two processes opening
  // a new file at once run each migration exactly once.
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number
    if (version > MIGRATIONS.length) {
      throw new Error(`the database schema is version ${version}, newer than this build knows (${MIGRATIONS.length}); run a newer Parley`)
    }
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v])
    db.pragma(`user_version = ${MIGRATIONS.length}`)
  }).immediate()
}

function toMessage (m: NewMessage & { id: string, seq: number, timestamp: string }): Message {
  return {
    type: 'message',
    id: m.id,
    room_id: m.roomId,
    user_id: m.userId,
    username: m.username,
    content: m.content,
    avatar: m.avatar,
    avatar_url: m.avatar,
    timestamp: m.timestamp,
    seq: m.seq
  }
}

function fromMessageRow (row: MessageRow): Message {
  return {
    type: 'message',
    id: row.id,
    room_id: row.room_id,
    user_id: row.user_id,
    username: row.username,
    content: row.content,
    avatar: row.avatar,
    avatar_url: row.avatar,
    timestamp: row.created_at,
    seq: row.seq
  }
}

function fromProfileRow (row: ProfileRow): Profile {
  return {
    roomId: row.room_id,
    userId: row.user_id,
    username: row.username,
    avatarUrl: row.avatar_url,
    joinedAt: row.joined_at
  }
}
