'use strict'
// The fan-out and connect floor: the least a server can do to speak Parley's socket
// wire format. Plain `ws` on node:http, no framework, no store, an in-memory seq per
// room, and the presence every connect owes (bench/floor-presence.js).
// GET / answers 200 so the bench can wait for it like it waits for Parley.
//
//   PORT=8001 HOST=127.0.0.1 node bench/floor-ws.js

const http = require('node:http')
const { randomUUID } = require('node:crypto')
const { WebSocketServer } = require('ws')
const { createFloorPresence } = require('./floor-presence')

const port = Number(process.env.PORT || 8001)
const host = process.env.HOST || '127.0.0.1'

const rooms = new Map() // room id → { seq, sockets: Set<WebSocket> }
const presence = createFloorPresence()
// A Buffer would go out as a binary frame; the wire format is text frames, as Parley sends.
const TEXT = { binary: false }

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end('{"status":"ok","service":"floor-ws"}')
})
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 65536 })

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://floor')
  const parts = url.pathname.split('/')
  if (parts.length !== 4 || parts[1] !== 'ws' || !parts[2] || !parts[3]) {
    socket.end('HTTP/1.1 404 Not Found\r\n\r\n')
    return
  }
  const roomId = decodeURIComponent(parts[2])
  const userId = decodeURIComponent(parts[3])
  const username = url.searchParams.get('username') || 'Anonymous'
  wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, roomId, userId, username))
})

function onConnection (ws, roomId, userId, username) {
  let room = rooms.get(roomId)
  if (!room) {
    room = { seq: 0, sockets: new Set() }
    rooms.set(roomId, room)
  }
  room.sockets.add(ws)
  presence.join(ws, roomId, userId, username)

  ws.on('message', (data, isBinary) => {
    if (isBinary) return
    let frame
    try {
      frame = JSON.parse(data)
    } catch {
      ws.send('{"type":"error","code":"invalid_json","message":"frame is not valid JSON"}')
      return
    }
    if (frame === null || typeof frame !== 'object' || typeof frame.content !== 'string' || frame.content.trim() === '') return
    const message = {
      type: 'message',
      id: randomUUID(),
      room_id: roomId,
      user_id: userId,
      username: typeof frame.username === 'string' && frame.username !== '' ? frame.username : username,
      content: frame.content,
      avatar: null,
      avatar_url: null,
      timestamp: new Date().toISOString(),
      seq: ++room.seq
    }
    // Serialized once, the same buffer written to every socket (as Parley's registry does).
    const out = Buffer.from(JSON.stringify(message))
    for (const socket of room.sockets) socket.send(out, TEXT)
  })

  ws.on('close', () => {
    presence.leave(ws, roomId, userId, username)
    room.sockets.delete(ws)
    if (room.sockets.size === 0 && rooms.get(roomId) === room) rooms.delete(roomId)
  })
  ws.on('error', () => {})
}

// The same accept queue as Parley's (src/server.ts): a storm of connects is queued, not dropped.
server.listen(port, host, 4096)

function shutdown () {
  for (const ws of wss.clients) ws.terminate()
  server.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
