'use strict'
// What the wire contract asks of every connect, done the fastest honest way, for the
// floors (bench/floor-ws.js, bench/floor-storm.js). A connect owes its socket one
// `user_joined` (marked snapshot) per other user online in the room, and the room a
// live `user_joined` for a user's first socket; a user's last socket closing owes the
// room a `user_left`. A floor that skips them measures a server that breaks the
// contract, so the connect floor does them too:
// - each user's frame JSON is built once per join (not once per snapshot it is in);
// - a snapshot is its frames encoded into one buffer, one write;
// - live joins and leaves are coalesced per room, at the end of the turn and at most
//   once a second while they keep coming, one write per socket: the same rule Parley
//   follows (src/fanout/connection-registry.ts).
// FLOOR_PRESENCE=0 turns it off: the plain upgrade, kept as a reference row.

const { Sender } = require('ws')

const ENABLED = process.env.FLOOR_PRESENCE !== '0'
const WINDOW_MS = 1000
const TEXT = { fin: true, opcode: 0x1, mask: false, readOnly: false, rsv1: false }
const frame = (text) => Sender.frame(Buffer.from(text), TEXT)

function createFloorPresence () {
  // room id → { users: Map<user id, {sockets, head}>, sockets, pending, late, flushedAt, timer }
  const rooms = new Map()

  function roomOf (roomId) {
    let room = rooms.get(roomId)
    if (!room) rooms.set(roomId, (room = { users: new Map(), sockets: new Set(), pending: [], late: new Map(), flushedAt: 0, timer: null }))
    return room
  }

  // One write per socket of the frames queued for the room, less the socket's own and
  // those queued before it joined (its snapshot covered them).
  function flush (room) {
    clearTimeout(room.timer)
    const { pending, late } = room
    room.pending = []
    room.late = new Map()
    room.flushedAt = performance.now()
    const all = Buffer.concat(pending.flatMap((p) => p.bytes))
    for (const ws of room.sockets) {
      const from = late.get(ws) ?? 0
      const own = pending.some((p) => p.from === ws)
      const bytes = from === 0 && !own ? all : Buffer.concat(pending.slice(from).filter((p) => p.from !== ws).flatMap((p) => p.bytes))
      if (bytes.length > 0 && ws._socket) ws._socket.write(bytes)
    }
  }

  function queue (room, from, text) {
    if (room.pending.push({ from, bytes: frame(text) }) > 1) return
    const wait = room.flushedAt + WINDOW_MS - performance.now()
    if (wait <= 0) setImmediate(() => flush(room))
    else room.timer = setTimeout(() => flush(room), wait)
  }

  return {
    join (ws, roomId, userId, username) {
      if (!ENABLED) return
      const room = roomOf(roomId)
      const timestamp = new Date().toISOString()
      let user = room.users.get(userId)
      const first = user === undefined
      if (first) {
        const head = JSON.stringify({ type: 'user_joined', room_id: roomId, user_id: userId, username, avatar: null, avatar_url: null }).slice(0, -1)
        room.users.set(userId, (user = { sockets: 0, head }))
      }
      user.sockets++
      const count = room.users.size
      const snapshot = []
      for (const [id, other] of room.users) {
        if (id !== userId) snapshot.push(...frame(`${other.head},"online_count":${count},"timestamp":"${timestamp}","snapshot":true}`))
      }
      if (snapshot.length > 0) ws._socket.write(Buffer.concat(snapshot))
      room.sockets.add(ws)
      if (room.pending.length > 0) room.late.set(ws, room.pending.length)
      if (first) queue(room, ws, `${user.head},"online_count":${count},"timestamp":"${timestamp}"}`)
    },

    leave (ws, roomId, userId, username) {
      if (!ENABLED) return
      const room = rooms.get(roomId)
      if (!room || !room.sockets.delete(ws)) return
      room.late.delete(ws)
      const user = room.users.get(userId)
      if (--user.sockets > 0) return
      room.users.delete(userId)
      if (room.sockets.size === 0) {
        clearTimeout(room.timer)
        rooms.delete(roomId)
        return
      }
      queue(room, ws, JSON.stringify({ type: 'user_left', room_id: roomId, user_id: userId, username, avatar: null, avatar_url: null, online_count: room.users.size, timestamp: new Date().toISOString() }))
    }
  }
}

module.exports = { createFloorPresence }
