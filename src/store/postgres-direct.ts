// Direct messages on PostgreSQL: stored, claimed for delivery, read, hidden per user; shared by every instance.
import type pg from 'pg'
import { createOrderedIds } from './ids'
import { pairKey, type DirectMessage, type DirectMessageStore, type NewDirectMessage } from './direct-store'

interface Row {
  id: string
  conversation_id: string
  sender_id: string
  receiver_id: string
  content: string
  sender_username: string
  sender_avatar: string | null
  created_at: Date
  client_id: string | null
  read_at: Date | null
}

const COLUMNS = 'id, conversation_id, sender_id, receiver_id, content, sender_username, sender_avatar, created_at, client_id, read_at'
const INSERT = `INSERT INTO direct_messages (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)`
// A retry of a clientId another instance (or this one) stored waits for that insert's
// commit on the unique index, then inserts nothing; the stored one is read after.
const INSERT_ONCE = `${INSERT} ON CONFLICT (sender_id, client_id) WHERE client_id IS NOT NULL DO NOTHING RETURNING ${COLUMNS}`
const SELECT_BY_CLIENT_ID = `SELECT ${COLUMNS} FROM direct_messages WHERE sender_id = $1 AND client_id = $2`
// One statement takes the claim: rows another caller is claiming right now are skipped
// (SKIP LOCKED), and a row it claimed and committed meanwhile is re-checked against the
// lease on locking, so two callers never get the same message. The lease runs on the
// database's clock, the one every instance shares.
const CLAIM = `UPDATE direct_messages SET claim_until = now() + $2 * interval '1 millisecond'
   WHERE id IN (
     SELECT id FROM direct_messages
      WHERE receiver_id = $1 AND delivered_at IS NULL AND (claim_until IS NULL OR claim_until < now())
      ORDER BY id LIMIT $3
      FOR UPDATE SKIP LOCKED)
   RETURNING ${COLUMNS}`
const DELIVERED = 'UPDATE direct_messages SET delivered_at = now(), claim_until = NULL WHERE id = ANY($1::text[]) AND delivered_at IS NULL'
// What the viewer deleted (dm_hidden's through_id) is left out; '' hides nothing.
const HIDDEN_THROUGH = (user: string, conversation: string) =>
  `COALESCE((SELECT h.through_id FROM dm_hidden h WHERE h.user_id = ${user} AND h.conversation_id = ${conversation}), '')`
const PAGE = (before: string) => `SELECT ${COLUMNS} FROM direct_messages
   WHERE conversation_id = $1 AND id > ${HIDDEN_THROUGH('$2', '$1')} ${before}
   ORDER BY id DESC LIMIT $3`
const PAGE_LATEST = PAGE('')
const PAGE_BEFORE = PAGE('AND id < $4')
// A user's conversations: the newest message of each, from the two id-ordered indexes,
// the newest `limit` of them.
const LAST_OF_EACH = `SELECT ${COLUMNS} FROM direct_messages WHERE id IN (
     SELECT MAX(id) FROM (
       SELECT conversation_id, id FROM direct_messages WHERE sender_id = $1
       UNION ALL
       SELECT conversation_id, id FROM direct_messages WHERE receiver_id = $1) mine
     GROUP BY conversation_id)
   ORDER BY id DESC LIMIT $2`
// Of those, the ones the user did not delete (or that have a newer message since), with
// their unread counts (the dm_unread index).
const CONVERSATIONS = `WITH last AS (${LAST_OF_EACH})
  SELECT last.*,
         (SELECT COUNT(*) FROM direct_messages u
           WHERE u.receiver_id = $1 AND u.conversation_id = last.conversation_id AND u.read_at IS NULL) AS unread
    FROM last
   WHERE last.id > ${HIDDEN_THROUGH('$1', 'last.conversation_id')}
   ORDER BY last.id DESC`
// Through the conversation's newest message; nothing when it has none.
const HIDE = `INSERT INTO dm_hidden (user_id, conversation_id, through_id)
  SELECT $1, $2, MAX(id) FROM direct_messages WHERE conversation_id = $2 HAVING MAX(id) IS NOT NULL
  ON CONFLICT (user_id, conversation_id) DO UPDATE SET through_id = excluded.through_id`

export function createPostgresDirect (pool: pg.Pool): DirectMessageStore {
  const nextId = createOrderedIds()

  function insertValues (message: NewDirectMessage): unknown[] {
    return [
      nextId(), pairKey(message.senderId, message.receiverId), message.senderId, message.receiverId, message.content,
      message.senderUsername, message.senderAvatar, new Date().toISOString(), message.clientId ?? null
    ]
  }

  return {
    async appendDirect (message) {
      if (message.clientId === undefined) {
        const { rows: [row] } = await pool.query<Row>({ name: 'parley-dm-insert', text: `${INSERT} RETURNING ${COLUMNS}`, values: insertValues(message) })
        return { message: fromRow(row), created: true }
      }
      // The stored one deleted between the conflict and the read: the insert is tried again.
      for (;;) {
        const { rows: [inserted] } = await pool.query<Row>({ name: 'parley-dm-insert-once', text: INSERT_ONCE, values: insertValues(message) })
        if (inserted) return { message: fromRow(inserted), created: true }
        const { rows: [stored] } = await pool.query<Row>({
          name: 'parley-dm-client-id',
          text: SELECT_BY_CLIENT_ID,
          values: [message.senderId, message.clientId]
        })
        if (stored) return { message: fromRow(stored), created: false }
      }
    },
    async claimUndelivered (userId, leaseMs, limit) {
      const { rows } = await pool.query<Row>({ name: 'parley-dm-claim', text: CLAIM, values: [userId, leaseMs, limit] })
      // RETURNING keeps no order: oldest first is id order (byte order, as the index's).
      return rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(fromRow)
    },
    async markDelivered (ids) {
      if (ids.length > 0) await pool.query({ name: 'parley-dm-delivered', text: DELIVERED, values: [ids] })
    },
    async directPage (conversationId, { limit, beforeId, viewerId }) {
      const { rows } = beforeId === undefined
        ? await pool.query<Row>(PAGE_LATEST, [conversationId, viewerId ?? null, limit])
        : await pool.query<Row>(PAGE_BEFORE, [conversationId, viewerId ?? null, limit, beforeId])
      return rows.reverse().map(fromRow)
    },
    async markRead (conversationId, readerId) {
      const { rowCount } = await pool.query(
        'UPDATE direct_messages SET read_at = $1 WHERE conversation_id = $2 AND receiver_id = $3 AND read_at IS NULL',
        [new Date().toISOString(), conversationId, readerId])
      return rowCount ?? 0
    },
    async unreadCount (userId) {
      const { rows: [row] } = await pool.query<{ n: string }>(
        'SELECT COUNT(*) AS n FROM direct_messages WHERE receiver_id = $1 AND read_at IS NULL', [userId])
      return Number(row.n)
    },
    async conversations (userId, limit) {
      const { rows } = await pool.query<Row & { unread: string }>(CONVERSATIONS, [userId, limit])
      return rows.map((row) => ({
        conversationId: row.conversation_id,
        partnerId: partnerOf(row, userId),
        last: fromRow(row),
        unread: Number(row.unread)
      }))
    },
    async partners (userId, limit) {
      const { rows } = await pool.query<Row>(LAST_OF_EACH, [userId, limit])
      return rows.map((row) => partnerOf(row, userId))
    },
    async directMessage (id) {
      const { rows: [row] } = await pool.query<Row>(`SELECT ${COLUMNS} FROM direct_messages WHERE id = $1`, [id])
      return row && fromRow(row)
    },
    async deleteDirect (id) {
      await pool.query('DELETE FROM direct_messages WHERE id = $1', [id])
    },
    async hideConversation (conversationId, userId) {
      await pool.query(HIDE, [userId, conversationId])
    }
  }
}

function partnerOf (row: Row, userId: string): string {
  return row.sender_id === userId ? row.receiver_id : row.sender_id
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
    createdAt: row.created_at.toISOString(),
    clientId: row.client_id,
    readAt: row.read_at?.toISOString() ?? null
  }
}
