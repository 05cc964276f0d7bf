'use strict'
// Builds (once, cached in bench/.cache/) a SQLite file in Parley's schema with three
// rooms of 100, 100k and 1M messages, for the history-growth bench. The schema comes
// from Parley's own store (dist/src/store/sqlite-store.js); the cache file is keyed by a
// hash of that schema, so a migration makes a new file instead of a stale read.
//
//   node bench/history-fill.js        prints the path of the (possibly cached) file

const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const Database = require('better-sqlite3')
const { CACHE, ROOT } = require('./lib')

const ROOMS = [
  { roomId: 'history-100', count: 100 },
  { roomId: 'history-100k', count: 100_000 },
  { roomId: 'history-1m', count: 1_000_000 }
]
const USERS = 50
const BATCH = 50_000

async function schemaKey () {
  const { createSqliteStore } = require(path.join(ROOT, 'dist', 'src', 'store', 'sqlite-store.js'))
  const probe = path.join(CACHE, `schema-probe-${process.pid}.db`)
  fs.mkdirSync(CACHE, { recursive: true })
  await createSqliteStore({ filename: probe }).close()
  const db = new Database(probe, { readonly: true })
  const ddl = db.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").all()
  const version = db.pragma('user_version', { simple: true })
  db.close()
  for (const f of [probe, `${probe}-wal`, `${probe}-shm`]) fs.rmSync(f, { force: true })
  return crypto.createHash('sha256').update(JSON.stringify({ ddl, version, ROOMS })).digest('hex').slice(0, 12)
}

/** Returns { file, cached, ms, rooms }. */
async function historyDb ({ log = () => {} } = {}) {
  const key = await schemaKey()
  const file = path.join(CACHE, `history-${key}.db`)
  if (fs.existsSync(file)) return { file, cached: true, ms: 0, rooms: ROOMS }

  const t0 = Date.now()
  const tmp = `${file}.tmp-${process.pid}`
  for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) fs.rmSync(f, { force: true })
  const { createSqliteStore } = require(path.join(ROOT, 'dist', 'src', 'store', 'sqlite-store.js'))
  const { messageId } = require(path.join(ROOT, 'dist', 'src', 'store', 'ids.js'))
  await createSqliteStore({ filename: tmp }).close()

  const db = new Database(tmp)
  // A throwaway build: no durability needed until the final checkpoint.
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = OFF')
  db.pragma('cache_size = -262144')
  const base = Date.parse('2025-01-01T00:00:00.000Z')
  const insertRoom = db.prepare('INSERT INTO rooms (room_id, created_at, last_seq, last_message_at, member_count) VALUES (?, ?, ?, ?, ?)')
  const insertProfile = db.prepare('INSERT INTO profiles (room_id, user_id, username, avatar_url, joined_at) VALUES (?, ?, ?, ?, ?)')
  const insertMessage = db.prepare(
    `INSERT INTO messages (room_id, seq, id, user_id, username, content, avatar, created_at, json)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
  )
  const filler = 'the quick brown fox jumps over the lazy dog '
  const batch = db.transaction((roomId, from, to) => {
    for (let seq = from; seq <= to; seq++) {
      const u = seq % USERS
      // Every other message has no avatar of its own: history fills it from the profile (the JOIN).
      const at = base + seq * 1000
      const id = messageId(seq, at)
      const content = `message ${seq}: ${filler.slice(0, 20 + (seq % 40))}`
      const avatar = seq % 2 ? `https://example.com/a/${u}.png` : null
      const timestamp = new Date(at).toISOString()
      // The wire JSON Parley stores with each message (wireMessage's shape).
      const json = JSON.stringify({ type: 'message', id, room_id: roomId, user_id: `user-${u}`, username: `User ${u}`, content, avatar, avatar_url: avatar, timestamp, seq })
      insertMessage.run(roomId, seq, id, `user-${u}`, `User ${u}`, content, avatar, timestamp, json)
    }
  })
  db.transaction(() => {
    for (const { roomId, count } of ROOMS) {
      insertRoom.run(roomId, new Date(base).toISOString(), count, new Date(base + count * 1000).toISOString(), USERS)
      for (let u = 0; u < USERS; u++) {
        insertProfile.run(roomId, `user-${u}`, `User ${u}`, `https://example.com/p/${u}.png`, new Date(base).toISOString())
      }
    }
  })()
  for (const { roomId, count } of ROOMS) {
    for (let from = 1; from <= count; from += BATCH) batch(roomId, from, Math.min(count, from + BATCH - 1))
    log(`  history: ${roomId} filled (${count} messages, ${((Date.now() - t0) / 1000).toFixed(1)} s)`)
  }
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
  fs.rmSync(`${tmp}-wal`, { force: true })
  fs.rmSync(`${tmp}-shm`, { force: true })
  fs.renameSync(tmp, file)
  // Files for an older schema are dead weight (~200 MB each).
  for (const f of fs.readdirSync(CACHE)) {
    if (/^history-[0-9a-f]{12}\.db(-wal|-shm)?$/.test(f) && !f.startsWith(path.basename(file))) fs.rmSync(path.join(CACHE, f), { force: true })
  }
  return { file, cached: false, ms: Date.now() - t0, rooms: ROOMS }
}

module.exports = { historyDb, ROOMS }

if (require.main === module) {
  historyDb({ log: console.error }).then((r) => console.log(JSON.stringify(r)), (err) => {
    console.error(err)
    process.exit(1)
  })
}
