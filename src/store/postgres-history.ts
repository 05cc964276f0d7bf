// PostgreSQL history reads: pages of messages (objects, or their stored JSON) and a message by its client_id.
import type pg from 'pg'
import type { Message } from '../schemas/http'
import { createPageCache } from './page-cache'
import type { NewMessage, PageQuery } from './store'
import { wireMessage, withAvatar } from './wire-message'

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

export function createPostgresHistory (pool: pg.Pool) {
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

  return { selectByClientId, readPage, readJson }
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
