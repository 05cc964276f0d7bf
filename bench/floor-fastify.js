'use strict'
// The REST floor: a bare Fastify app doing the same durable SQLite work as Parley's
// POST /rooms/:room_id/messages and GET /rooms/:room_id/messages?limit=100, in the
// fastest honest design, and nothing else: no plugins, no schemas, no CORS, no rate
// limit, no logger.
//
// Each message's wire JSON is stored with it as text, in the same insert: a POST
// answers that text, and a GET is the newest 100 stored strings of the room (one
// primary-key range), reversed and joined into an array, with no object built, parsed
// or serialised per message. (Parley adds the avatar fill on read and a byte bound.)
// The tables are created by Parley's own store (dist/src/store/sqlite-store.js), so the
// write touches the same tables and indexes.
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
  const bumpSeq = db.prepare(
    `INSERT INTO rooms (room_id, created_at, last_seq, last_message_at) VALUES (?, ?, 1, ?)
     ON CONFLICT (room_id) DO UPDATE SET last_seq = last_seq + 1, last_message_at = excluded.last_message_at
     RETURNING last_seq`)
  const insertMessage = db.prepare(
    `INSERT INTO messages (room_id, seq, id, user_id, username, content, avatar, created_at, json)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
  )
  const selectLatest = db.prepare('SELECT json FROM messages WHERE room_id = ? ORDER BY seq DESC LIMIT ?').pluck()

  const append = db.transaction((roomId, userId, username, content) => {
    const profile = selectProfile.get(roomId, userId)
    const timestamp = new Date().toISOString()
    const seq = bumpSeq.get(roomId, timestamp, timestamp).last_seq
    const id = randomUUID()
    const name = username || (profile && profile.username) || 'Anonymous'
    const avatar = (profile && profile.avatar_url) || null
    const json = JSON.stringify({ type: 'message', id, room_id: roomId, user_id: userId, username: name, content, avatar, avatar_url: avatar, timestamp, seq })
    insertMessage.run(roomId, seq, id, userId, name, content, avatar, timestamp, json)
    return json
  })

  const app = Fastify({ logger: false })
  app.get('/', async () => ({ status: 'ok', service: 'floor-fastify' }))

  app.post('/rooms/:room_id/messages', async (request, reply) => {
    const body = request.body
    if (!body || typeof body.user_id !== 'string' || typeof body.content !== 'string' || body.content.trim() === '') {
      reply.code(400)
      return { error: 'Bad Request', message: 'user_id and content are required' }
    }
    return reply.type('application/json; charset=utf-8').send(append(request.params.room_id, body.user_id, body.username, body.content))
  })

  app.get('/rooms/:room_id/messages', async (request, reply) => {
    const limit = Math.min(Number(request.query.limit) || 100, 500)
    const page = selectLatest.all(request.params.room_id, limit).reverse()
    return reply.type('application/json; charset=utf-8').send(`[${page.join(',')}]`)
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
