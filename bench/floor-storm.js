'use strict'
// The restart-storm floor: one process serving both floors a reconnecting client
// touches, as one Parley process does: plain `ws` room sockets (bench/floor-ws.js's
// upgrade, with the presence a connect owes: bench/floor-presence.js) and the
// stored-JSON GET /rooms/:room_id/messages of
// bench/floor-fastify.js (the newest 100 stored strings, joined). On SIGTERM it closes
// every socket with 1012 and exits, as Parley does.
//
//   PORT=8003 HOST=127.0.0.1 DATABASE_URL=/tmp/storm.db node bench/floor-storm.js

const path = require('node:path')
const Database = require('better-sqlite3')
const Fastify = require('fastify')
const { WebSocketServer } = require('ws')
const { createFloorPresence } = require('./floor-presence')

const port = Number(process.env.PORT || 8003)
const host = process.env.HOST || '127.0.0.1'
const filename = process.env.DATABASE_URL || path.join(__dirname, '.cache', 'floor-storm.db')

async function main () {
  const db = new Database(filename)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  const selectLatest = db.prepare('SELECT json FROM messages WHERE room_id = ? ORDER BY seq DESC LIMIT ?').pluck()

  const app = Fastify({ logger: false })
  app.get('/', async () => ({ status: 'ok', service: 'floor-storm' }))
  app.get('/rooms/:room_id/messages', async (request, reply) => {
    const limit = Math.min(Number(request.query.limit) || 100, 500)
    const page = selectLatest.all(request.params.room_id, limit).reverse()
    return reply.type('application/json; charset=utf-8').send(`[${page.join(',')}]`)
  })

  const rooms = new Map() // room id → Set<WebSocket>
  const presence = createFloorPresence()
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 65536 })
  app.server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url, 'http://floor')
    const parts = url.pathname.split('/')
    if (parts.length !== 4 || parts[1] !== 'ws' || !parts[2] || !parts[3]) {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n')
      return
    }
    const roomId = decodeURIComponent(parts[2])
    const userId = decodeURIComponent(parts[3])
    const username = url.searchParams.get('username') || 'Anonymous'
    wss.handleUpgrade(req, socket, head, (ws) => {
      let room = rooms.get(roomId)
      if (!room) rooms.set(roomId, (room = new Set()))
      room.add(ws)
      presence.join(ws, roomId, userId, username)
      ws.on('close', () => {
        presence.leave(ws, roomId, userId, username)
        room.delete(ws)
        if (room.size === 0 && rooms.get(roomId) === room) rooms.delete(roomId)
      })
      ws.on('error', () => {})
    })
  })

  const close = async () => {
    for (const ws of wss.clients) ws.close(1012, 'restarting')
    setTimeout(() => process.exit(0), 2000).unref()
    await app.close()
    db.close()
    process.exit(0)
  }
  process.on('SIGTERM', close)
  process.on('SIGINT', close)

  // The same accept queue as Parley's (src/server.ts): a storm of connects is queued, not dropped.
  await app.listen({ port, host, backlog: 4096 })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
