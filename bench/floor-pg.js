'use strict'
// The PostgreSQL REST floor: a bare Fastify app and a pg Pool doing the least a server
// can do for POST /rooms/:room_id/messages and GET /rooms/:room_id/messages?limit=100
// with Parley's per-room seq semantics, in the fastest honest design, and nothing else:
// no plugins, no schemas, no CORS, no rate limit, no logger, no broker.
//
// Each message's wire JSON is stored with it as text. POST is the one-row-per-statement
// counter: each request is ONE autocommit statement that bumps the room's last_seq (the
// room's row lock orders its writers) and inserts the message with that seq and its
// JSON (built in JavaScript up to the seq, which the statement appends), then answers
// that JSON. Nothing is batched: this is what a store without group commit pays per
// message. GET selects the newest 100 stored strings of the room (ORDER BY seq DESC
// LIMIT 100) and joins them, oldest first, into an array: no object per message.
//
// The tables are created by Parley's own migrations (dist/src/store/postgres-store.js)
// in a schema of the floor's own (DATABASE_SCHEMA, default parley_bench_floor), so the
// write touches the same tables and indexes as Parley's but never Parley's rows.
//
//   PORT=8003 HOST=127.0.0.1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//     DATABASE_SCHEMA=parley_bench_floor node bench/floor-pg.js

const path = require('node:path')
const { randomUUID } = require('node:crypto')
const Fastify = require('fastify')
const pg = require('pg')

const port = Number(process.env.PORT || 8003)
const host = process.env.HOST || '127.0.0.1'
const connectionString = process.env.DATABASE_URL
const schema = process.env.DATABASE_SCHEMA || 'parley_bench_floor'
const poolSize = Number(process.env.PG_POOL_SIZE || 10)
const DIST = path.join(__dirname, '..', 'dist', 'src', 'store')

async function main () {
  if (!/^postgres(ql)?:\/\//i.test(connectionString || '')) throw new Error('DATABASE_URL must be a postgres:// URL')
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid schema name ${schema}`)

  // Schema and migrations exactly as Parley creates them (in the floor's own schema).
  const { createPostgresStore } = require(path.join(DIST, 'postgres-store.js'))
  await (await createPostgresStore({ connectionString, schema, poolSize: 1 })).close()
  // Time-ordered ids, as Parley's: random ones would scatter the inserts over the id index.
  let newId = randomUUID
  try { newId = require(path.join(DIST, 'ids.js')).uuidv7 || randomUUID } catch {}

  const pool = new pg.Pool({ connectionString, max: poolSize, keepAlive: true, application_name: 'parley-bench-floor', options: `-c search_path=${schema}` })
  pool.on('error', () => {})

  const APPEND = `
    WITH r AS (
      INSERT INTO rooms (room_id, created_at, last_seq, last_message_at) VALUES ($1, $2, 1, $2)
      ON CONFLICT (room_id) DO UPDATE SET last_seq = rooms.last_seq + 1, last_message_at = EXCLUDED.last_message_at
      RETURNING last_seq
    )
    INSERT INTO messages (room_id, seq, id, user_id, username, content, avatar, created_at, json)
    SELECT $1, r.last_seq, $3, $4, $5, $6, NULL, $2, $7 || r.last_seq::text || '}' FROM r
    RETURNING json`
  const LATEST = 'SELECT json FROM messages WHERE room_id = $1 ORDER BY seq DESC LIMIT $2'

  const app = Fastify({ logger: false })
  app.get('/', async () => ({ status: 'ok', service: 'floor-pg' }))

  app.post('/rooms/:room_id/messages', async (request, reply) => {
    const body = request.body
    if (!body || typeof body.user_id !== 'string' || typeof body.content !== 'string' || body.content.trim() === '') {
      reply.code(400)
      return { error: 'Bad Request', message: 'user_id and content are required' }
    }
    const roomId = request.params.room_id
    const timestamp = new Date().toISOString()
    const id = newId()
    const username = body.username || 'Anonymous'
    // The message's JSON up to its seq, which the statement appends.
    const head = JSON.stringify({ type: 'message', id, room_id: roomId, user_id: body.user_id, username, content: body.content, avatar: null, avatar_url: null, timestamp }).slice(0, -1) + ',"seq":'
    const { rows: [[json]] } = await pool.query({ name: 'floor-append', text: APPEND, values: [roomId, timestamp, id, body.user_id, username, body.content, head], rowMode: 'array' })
    return reply.type('application/json; charset=utf-8').send(json)
  })

  app.get('/rooms/:room_id/messages', async (request, reply) => {
    const limit = Math.min(Number(request.query.limit) || 100, 500)
    const { rows } = await pool.query({ name: 'floor-latest', text: LATEST, values: [request.params.room_id, limit], rowMode: 'array' })
    const page = new Array(rows.length)
    for (let i = 0; i < rows.length; i++) page[rows.length - 1 - i] = rows[i][0]
    return reply.type('application/json; charset=utf-8').send(`[${page.join(',')}]`)
  })

  const close = async () => {
    await app.close()
    await pool.end()
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
