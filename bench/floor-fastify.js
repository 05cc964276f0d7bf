'use strict'
// The REST floor: a bare Fastify app doing the same durable SQLite work as Parley's
// POST /rooms/:room_id/messages and GET /rooms/:room_id/messages?limit=100, and
// nothing else: no plugins, no schemas, no CORS, no rate limit, no logger.
// The tables are created by Parley's own store (dist/src/store/sqlite-store.js), so the
// write touches the same tables and indexes; the statements are the same SQL.
//
//   PORT=8002 HOST=127.0.0.1 DATABASE_URL=/tmp/floor.db node bench/floor-fastify.js

const path = require('node:path')
const { randomUUID } = require('node:crypto')
const Database = require('better-sqlite3')
const Fastify = require('fastify')

const port = Number(process.env.PORT || 8002)
const host = process.env.HOST || '127.0.0.1'
const filename = process.env.DATABASE_URL || path.join(__dirname, '.cache', 'floor.db')

async function main () {
  // Schema and migrations exactly as Parley creates them.
  const { createSqliteStore } = require(path.join(__dirname, '..', 'dist', 'src', 'store', 'sqlite-store.js'))
  await createSqliteStore({ filename }).close()

  const db = new Database(filename)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('busy_timeout = 5000')

  const selectProfile = db.prepare('SELECT username, avatar_url FROM profiles WHERE room_id = ? AND user_id = ?')
  // Parley's schema moves on (new columns, indexes): the floor writes the columns the
  // store writes, as far as the file has them, so the two writes stay comparable.
  const has = (table, column) => db.prepare(`SELECT 1 FROM pragma_table_info('${table}') WHERE name = ?`).get(column) !== undefined
  const lastMessageAt = has('rooms', 'last_message_at')
  const bumpSeq = db.prepare(lastMessageAt
    ? `INSERT INTO rooms (room_id, created_at, last_seq, last_message_at) VALUES (?, ?, 1, ?)
       ON CONFLICT (room_id) DO UPDATE SET last_seq = last_seq + 1, last_message_at = excluded.last_message_at
       RETURNING last_seq`
    : `INSERT INTO rooms (room_id, created_at, last_seq) VALUES (?, ?, 1)
       ON CONFLICT (room_id) DO UPDATE SET last_seq = last_seq + 1
       RETURNING last_seq`)
  const insertMessage = db.prepare(
    `INSERT INTO messages (room_id, seq, id, user_id, username, content, avatar, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
  )
  const selectLatest = db.prepare(
    `SELECT m.seq, m.id, m.room_id, m.user_id, m.username, m.content,
            COALESCE(m.avatar, p.avatar_url) AS avatar, m.created_at
       FROM messages m
       LEFT JOIN profiles p ON p.room_id = m.room_id AND p.user_id = m.user_id
      WHERE m.room_id = ?
      ORDER BY m.seq DESC
      LIMIT ?`
  )

  const append = db.transaction((roomId, userId, username, content) => {
    const profile = selectProfile.get(roomId, userId)
    const timestamp = new Date().toISOString()
    const seq = (lastMessageAt ? bumpSeq.get(roomId, timestamp, timestamp) : bumpSeq.get(roomId, timestamp)).last_seq
    const id = randomUUID()
    const name = username || (profile && profile.username) || 'Anonymous'
    const avatar = (profile && profile.avatar_url) || null
    insertMessage.run(roomId, seq, id, userId, name, content, avatar, timestamp)
    return { type: 'message', id, room_id: roomId, user_id: userId, username: name, content, avatar, avatar_url: avatar, timestamp, seq }
  })

  const app = Fastify({ logger: false })
  app.get('/', async () => ({ status: 'ok', service: 'floor-fastify' }))

  app.post('/rooms/:room_id/messages', async (request, reply) => {
    const body = request.body
    if (!body || typeof body.user_id !== 'string' || typeof body.content !== 'string' || body.content.trim() === '') {
      reply.code(400)
      return { error: 'Bad Request', message: 'user_id and content are required' }
    }
    return append(request.params.room_id, body.user_id, body.username, body.content)
  })

  app.get('/rooms/:room_id/messages', async (request) => {
    const limit = Math.min(Number(request.query.limit) || 100, 500)
    const rows = selectLatest.all(request.params.room_id, limit)
    const page = new Array(rows.length)
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]
      page[rows.length - 1 - i] = {
        type: 'message', id: r.id, room_id: r.room_id, user_id: r.user_id, username: r.username,
        content: r.content, avatar: r.avatar, avatar_url: r.avatar, timestamp: r.created_at, seq: r.seq
      }
    }
    return page
  })

  const close = async () => {
    await app.close()
    db.close()
    process.exit(0)
  }
  process.on('SIGTERM', close)
  process.on('SIGINT', close)

  await app.listen({ port, host })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
