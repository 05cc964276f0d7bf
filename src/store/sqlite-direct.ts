// Direct messages on SQLite: stored, claimed for delivery, read, hidden per user.
import type Database from 'better-sqlite3'
import { createOrderedIds } from './ids'
import { pairKey, type Conversation, type DirectMessage, type DirectMessageStore } from './direct-store'

interface Row {
  id: string
  conversation_id: string
  sender_id: string
  receiver_id: string
  content: string
  sender_username: string
  sender_avatar: string | null
  created_at: string
  client_id: string | null
  read_at: string | null
}

const COLUMNS = 'id, conversation_id, sender_id, receiver_id, content, sender_username, sender_avatar, created_at, client_id, read_at'

/** `write` runs a plain function inside the store's next group commit. */
export function createSqliteDirect (db: Database.Database, write: <T> (run: () => T) => Promise<T>): DirectMessageStore {
  const nextId = createOrderedIds()
  const insert = db.prepare(`INSERT INTO direct_messages (${COLUMNS}) VALUES (@id, @conversation_id, @sender_id, @receiver_id, @content, @sender_username, @sender_avatar, @created_at, @client_id, NULL)`)
  const byClientId = db.prepare<[string, string], Row>(`SELECT ${COLUMNS} FROM direct_messages WHERE sender_id = ? AND client_id = ?`)
  const byId = db.prepare<[string], Row>(`SELECT ${COLUMNS} FROM direct_messages WHERE id = ?`)
  const undelivered = db.prepare<[string, number, number], Row>(
    `SELECT ${COLUMNS} FROM direct_messages WHERE receiver_id = ? AND delivered_at IS NULL AND (claim_until IS NULL OR claim_until < ?) ORDER BY id LIMIT ?`)
  const claim = db.prepare('UPDATE direct_messages SET claim_until = ? WHERE id = ?')
  const delivered = db.prepare('UPDATE direct_messages SET delivered_at = ?, claim_until = NULL WHERE id = ? AND delivered_at IS NULL')
  const hiddenThrough = db.prepare<[string, string], { through_id: string }>('SELECT through_id FROM dm_hidden WHERE user_id = ? AND conversation_id = ?')
  const before = db.prepare<[string, string, string, number], Row>(
    `SELECT ${COLUMNS} FROM direct_messages WHERE conversation_id = ? AND id > ? AND id < ? ORDER BY id DESC LIMIT ?`)
  const read = db.prepare('UPDATE direct_messages SET read_at = ? WHERE conversation_id = ? AND receiver_id = ? AND read_at IS NULL')
  const unread = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM direct_messages WHERE receiver_id = ? AND read_at IS NULL')
  const unreadIn = db.prepare<[string, string], { n: number }>('SELECT COUNT(*) AS n FROM direct_messages WHERE receiver_id = ? AND conversation_id = ? AND read_at IS NULL')
  // A user's conversations: the newest message of each, from the two id-ordered indexes.
  const lastOfEach = db.prepare<[string, string, number], Row>(
    `SELECT ${COLUMNS} FROM direct_messages WHERE id IN (
       SELECT MAX(id) FROM (
         SELECT conversation_id, id FROM direct_messages WHERE sender_id = ?
         UNION ALL
         SELECT conversation_id, id FROM direct_messages WHERE receiver_id = ?)
       GROUP BY conversation_id)
     ORDER BY id DESC LIMIT ?`)
  const remove = db.prepare('DELETE FROM direct_messages WHERE id = ?')
  const newest = db.prepare<[string], { id: string }>('SELECT MAX(id) AS id FROM direct_messages WHERE conversation_id = ?')
  const hide = db.prepare('INSERT INTO dm_hidden (user_id, conversation_id, through_id) VALUES (?, ?, ?) ON CONFLICT (user_id, conversation_id) DO UPDATE SET through_id = excluded.through_id')

  const append = (message: Parameters<DirectMessageStore['appendDirect']>[0]) => {
    if (message.clientId !== undefined) {
      const stored = byClientId.get(message.senderId, message.clientId)
      if (stored) return { message: fromRow(stored), created: false }
    }
    const row: Row = {
      id: nextId(),
      conversation_id: pairKey(message.senderId, message.receiverId),
      sender_id: message.senderId,
      receiver_id: message.receiverId,
      content: message.content,
      sender_username: message.senderUsername,
      sender_avatar: message.senderAvatar,
      created_at: new Date().toISOString(),
      client_id: message.clientId ?? null,
      read_at: null
    }
    insert.run(row)
    return { message: fromRow(row), created: true }
  }

  const claimTx = db.transaction((userId: string, leaseMs: number, limit: number) => {
    const now = Date.now()
    const rows = undelivered.all(userId, now, limit)
    for (const row of rows) claim.run(now + leaseMs, row.id)
    return rows.map(fromRow)
  })

  const mark = (ids: string[]) => {
    const now = new Date().toISOString()
    for (const id of ids) delivered.run(now, id)
  }

  const hiddenFor = (userId: string | undefined, conversationId: string) =>
    userId === undefined ? '' : hiddenThrough.get(userId, conversationId)?.through_id ?? ''

  return {
    async appendDirect (message) {
      return write(() => append(message))
    },
    async claimUndelivered (userId, leaseMs, limit) {
      return claimTx(userId, leaseMs, limit)
    },
    async markDelivered (ids) {
      if (ids.length > 0) await write(() => mark(ids))
    },
    async directPage (conversationId, { limit, beforeId, viewerId }) {
      const rows = before.all(conversationId, hiddenFor(viewerId, conversationId), beforeId ?? '\uffff', limit)
      return rows.reverse().map(fromRow)
    },
    async markRead (conversationId, readerId) {
      return read.run(new Date().toISOString(), conversationId, readerId).changes
    },
    async unreadCount (userId) {
      return unread.get(userId)!.n
    },
    async conversations (userId, limit) {
      const result: Conversation[] = []
      for (const row of lastOfEach.all(userId, userId, limit)) {
        // Deleted by this user, and nothing new since.
        if (row.id <= hiddenFor(userId, row.conversation_id)) continue
        result.push({
          conversationId: row.conversation_id,
          partnerId: row.sender_id === userId ? row.receiver_id : row.sender_id,
          last: fromRow(row),
          unread: unreadIn.get(userId, row.conversation_id)!.n
        })
      }
      return result
    },
    async partners (userId, limit) {
      return lastOfEach.all(userId, userId, limit).map((row) => (row.sender_id === userId ? row.receiver_id : row.sender_id))
    },
    async directMessage (id) {
      const row = byId.get(id)
      return row && fromRow(row)
    },
    async deleteDirect (id) {
      remove.run(id)
    },
    async hideConversation (conversationId, userId) {
      const through = newest.get(conversationId)?.id
      if (through) hide.run(userId, conversationId, through)
    }
  }
}

function fromRow (row: Row): DirectMessage {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    senderId: row.sender_id,
    receiverId: row.receiver_id,
    content: row.content,
    senderUsername: row.sender_username,
    senderAvatar: row.sender_avatar,
    createdAt: row.created_at,
    clientId: row.client_id,
    readAt: row.read_at
  }
}
