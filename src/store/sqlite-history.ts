// Room history on SQLite: pages as messages and as stored JSON, each room's newest page kept.
import type Database from 'better-sqlite3'
import type { Message } from '../schemas/http'
import { createPageCache } from './page-cache'
import type { PageQuery } from './store'
import { wireMessage } from './wire-message'

// A message as the reads return it: a row array (better-sqlite3's raw mode), in the
// order of `columns` below. A page of 100 builds half as fast from row objects.
type MessageRow = [
  clientId: string | null,
  seq: number,
  id: string,
  roomId: string,
  userId: string,
  username: string,
  content: string,
  avatar: string | null,
  createdAt: string
]

export function createSqliteHistory (db: Database.Database) {
  // Every read is a range of the (room_id, seq) primary key: its cost does not grow with the history.
  const columns = `m.client_id, m.seq, m.id, m.room_id, m.user_id, m.username, m.content,
            COALESCE(m.avatar, p.avatar_url) AS avatar, m.created_at
       FROM messages m
       LEFT JOIN profiles p ON p.room_id = m.room_id AND p.user_id = m.user_id`
  const selectBefore = db.prepare<[string, number, number], MessageRow>(
    `SELECT ${columns} WHERE m.room_id = ? AND m.seq < ? ORDER BY m.seq DESC LIMIT ?`
  ).raw(true)
  const selectAfter = db.prepare<[string, number, number, number], MessageRow>(
    `SELECT ${columns} WHERE m.room_id = ? AND m.seq > ? AND m.seq < ? ORDER BY m.seq ASC LIMIT ?`
  ).raw(true)
  const selectByClientId = db.prepare<[string, string, string], MessageRow>(
    `SELECT ${columns} WHERE m.room_id = ? AND m.user_id = ? AND m.client_id = ?`
  ).raw(true)
  // A page as stored JSON, one string per row (pluck: a row array per message would cost
  // a third of the read). The profile is read only for a message stored without an avatar
  // (CASE is lazy), and the JSON rewritten only if the profile has one.
  const jsonColumn = `CASE WHEN m.avatar IS NULL THEN COALESCE(
       (SELECT json_set(m.json, '$.avatar', p.avatar_url, '$.avatar_url', p.avatar_url) FROM profiles p
         WHERE p.room_id = m.room_id AND p.user_id = m.user_id AND p.avatar_url IS NOT NULL), m.json)
       ELSE m.json END
       FROM messages m`
  const selectJsonBefore = db.prepare<[string, number, number], string>(
    `SELECT ${jsonColumn} WHERE m.room_id = ? AND m.seq < ? ORDER BY m.seq DESC LIMIT ?`
  ).pluck()
  const selectJsonAfter = db.prepare<[string, number, number, number], string>(
    `SELECT ${jsonColumn} WHERE m.room_id = ? AND m.seq > ? AND m.seq < ? ORDER BY m.seq ASC LIMIT ?`
  ).pluck()

  // Kept exact because this process is the file's only writer: the store forgets a
  // room's pages when it writes a message or a profile there.
  const newest = createPageCache()

  function readJsonRows (roomId: string, { limit, beforeSeq, afterSeq }: PageQuery): string[] {
    const upper = beforeSeq ?? Number.MAX_SAFE_INTEGER
    if (afterSeq !== undefined) return selectJsonAfter.all(roomId, afterSeq, upper, limit)
    return selectJsonBefore.all(roomId, upper, limit).reverse()
  }

  return {
    page (roomId: string, { limit, beforeSeq, afterSeq }: PageQuery): Message[] {
      const upper = beforeSeq ?? Number.MAX_SAFE_INTEGER
      if (afterSeq !== undefined) return selectAfter.all(roomId, afterSeq, upper, limit).map(fromMessageRow)
      const rows = selectBefore.all(roomId, upper, limit)
      const messages = new Array<Message>(rows.length)
      for (let i = 0; i < rows.length; i++) messages[rows.length - 1 - i] = fromMessageRow(rows[i])
      return messages
    },
    pageJson (roomId: string, query: PageQuery): readonly string[] {
      const isNewest = query.beforeSeq === undefined && query.afterSeq === undefined
      const kept = isNewest ? newest.get(roomId, query.limit) : undefined
      if (kept) return kept.page
      const page = readJsonRows(roomId, query)
      if (isNewest) newest.set(roomId, query.limit, page, undefined)
      return page
    },
    byClientId (roomId: string, userId: string, clientId: string): Message | undefined {
      const row = selectByClientId.get(roomId, userId, clientId)
      return row && fromMessageRow(row)
    },
    /** The room changed (a message, a profile): its kept pages are void. */
    forget (roomId: string): void {
      newest.forget(roomId)
    },
    /** Profiles of many rooms changed. */
    forgetAll (): void {
      newest.clear()
    }
  }
}

function fromMessageRow ([clientId, seq, id, roomId, userId, username, content, avatar, createdAt]: MessageRow): Message {
  return wireMessage({ id, seq, timestamp: createdAt, roomId, userId, username, content, avatar, clientId: clientId ?? undefined })
}
