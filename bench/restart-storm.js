'use strict'
// The restart storm (npm run bench -- --only storm): what a deploy does to Parley.
// N sockets over R rooms with history; the server gets SIGTERM and is started again on
// the same port and database; every client reconnects with the client's backoff while
// polling its room's newest page every 3 s, and loads that page once when its socket is
// back (bench/storm-client.js, one load-generator process). Measured from "listening"
// (the restarted server's first 200 on GET /, polled every 10 ms) to every socket back
// and every page served, with the pages' p99, the restarted server's CPU, refused
// sockets and 5xx. The same storm runs against bench/floor-storm.js: plain ws (with the
// presence a connect owes) and the
// stored-JSON page route in one process, as Parley is one process.

const fs = require('node:fs')
const path = require('node:path')
const Database = require('better-sqlite3')
const lib = require('./lib')

const { ROOT, sleep, cpuMs, fmt } = lib

/** A database of `rooms` rooms of `messages` messages each, Parley's schema, built once per run. */
async function stormDb (file, { rooms, messages, prefix }) {
  const { createSqliteStore } = require(path.join(ROOT, 'dist', 'src', 'store', 'sqlite-store.js'))
  const { messageId } = require(path.join(ROOT, 'dist', 'src', 'store', 'ids.js'))
  await createSqliteStore({ filename: file }).close()
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = OFF')
  const base = Date.parse('2025-01-01T00:00:00.000Z')
  const insertRoom = db.prepare('INSERT INTO rooms (room_id, created_at, last_seq, last_message_at, member_count) VALUES (?, ?, ?, ?, ?)')
  const insertMessage = db.prepare(
    `INSERT INTO messages (room_id, seq, id, user_id, username, content, avatar, created_at, json)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
  )
  db.transaction(() => {
    for (let r = 0; r < rooms; r++) {
      const roomId = `${prefix}-room${r}`
      insertRoom.run(roomId, new Date(base).toISOString(), messages, new Date(base + messages * 1000).toISOString(), 0)
      for (let seq = 1; seq <= messages; seq++) {
        const at = base + seq * 1000
        const id = messageId(seq, at)
        const user = `${prefix}-u${seq % 50}`
        const avatar = `https://example.com/a/${seq % 50}.png`
        const content = `message ${seq} in ${roomId}: the quick brown fox`
        const timestamp = new Date(at).toISOString()
        const json = JSON.stringify({ type: 'message', id, room_id: roomId, user_id: user, username: `User ${seq % 50}`, content, avatar, avatar_url: avatar, timestamp, seq })
        insertMessage.run(roomId, seq, id, user, `User ${seq % 50}`, content, avatar, timestamp, json)
      }
    }
  })()
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
}

/**
 * One storm against one server. `start({ dbFile, port, pollMs })` starts it (Parley or the
 * floor) and resolves once GET / answers 200.
 */
async function stormOnce ({ kind, start, dbFile, cfg, deadlineMs }) {
  const prefix = 'storm'
  const server = await start({ dbFile })
  const client = lib.startWorker('storm-client.js', [String(deadlineMs)])
  const out = { server: kind }
  let restarted = null
  try {
    client.send({ cmd: 'open', wsUrl: server.wsUrl, httpUrl: server.url, count: cfg.sockets, rooms: cfg.rooms, concurrency: cfg.concurrency, prefix })
    const opened = await client.next((m) => m.ev === 'opened', 240_000)
    Object.assign(out, { open: opened.open, connectFailed: opened.failed, connectMs: opened.ms, connectPerSec: opened.rate })
    if (opened.failed > 0) throw new Error(`${kind}: ${opened.failed} storm sockets failed to connect: ${opened.failures.join('; ')}`)
    await sleep(cfg.settleMs)
    client.send({ cmd: 'arm' })
    const t0 = Date.now()
    out.exit = await server.stop()
    out.stopMs = Date.now() - t0
    restarted = await start({ dbFile, port: server.port, pollMs: 10 })
    const listeningAt = Date.now()
    out.downMs = listeningAt - t0
    const cpu0 = cpuMs(restarted.pid)
    client.send({ cmd: 'listening', at: listeningAt })
    const done = await client.next((m) => m.ev === 'done', cfg.budgetMs)
    out.serverCpuMs = cpuMs(restarted.pid) - cpu0
    out.serverCpuWithStartMs = cpuMs(restarted.pid)
    Object.assign(out, done)
    console.log(`  ${kind.padEnd(8)} connect ${fmt(opened.open)} sockets at ${fmt(opened.rate)}/s; SIGTERM → listening ${fmt(out.downMs)} ms; ` +
      `all back in ${fmt(done.backMs)} ms, every page served in ${fmt(done.servedMs)} ms (${fmt(done.pagesAfterListening)} pages, p99 ${fmt(done.pageP99Ms, 1)} ms); ` +
      `server CPU ${fmt(out.serverCpuMs)} ms; refused ${done.refusedSockets}${done.refusedSockets ? ` ${JSON.stringify(done.refused)}` : ''}, ` +
      `5xx ${done.page5xx}, page errors ${JSON.stringify(done.pageErrors)}, gave up ${done.gaveUp}, client CPU ${fmt(done.clientCpuMs)} ms`)
  } finally {
    client.send({ cmd: 'exit' })
    await client.exit().catch(() => {})
    if (restarted) out.exitAfter = await restarted.stop()
    else await server.stop()
  }
  return out
}

/**
 * The storm against Parley and the floor, `rounds` times alternating (each its own
 * copy of the database), and a Parley round with the default limits if asked.
 */
async function stormRun ({ cfg, runDir, startParley, startBenchServer, deadlineMs, waitForQuiet }) {
  const template = path.join(runDir, 'storm-template.db')
  const t0 = Date.now()
  await stormDb(template, { rooms: cfg.rooms, messages: cfg.messages, prefix: 'storm' })
  console.log(`  storm database: ${cfg.rooms} rooms × ${fmt(cfg.messages)} messages (${((Date.now() - t0) / 1000).toFixed(1)} s)`)
  let copies = 0
  const copy = () => {
    const file = path.join(runDir, `storm-${++copies}.db`)
    fs.copyFileSync(template, file)
    return file
  }
  const starters = {
    parley: (limits) => ({ dbFile, port, pollMs }) => startParley({ dbFile, label: 'parley-storm', port, pollMs, limits }),
    floor: () => ({ dbFile, port, pollMs }) => startBenchServer('floor-storm', 'bench/floor-storm.js', { DATABASE_URL: dbFile }, { port, pollMs })
  }
  const out = { parley: [], floor: [] }
  for (let round = 0; round < cfg.rounds; round++) {
    for (const kind of round % 2 ? ['floor', 'parley'] : ['parley', 'floor']) {
      await waitForQuiet(`storm ${kind}`)
      out[kind].push(await stormOnce({ kind, start: starters[kind](), dbFile: copy(), cfg, deadlineMs }))
    }
  }
  if (cfg.defaultLimits) {
    // Default limits, except the two that all-from-one-address load must raise (cfg.defaultLimits).
    await waitForQuiet('storm parley (default limits)')
    out.defaultLimits = await stormOnce({ kind: 'parley-default-limits', start: starters.parley(cfg.defaultLimits), dbFile: copy(), cfg, deadlineMs })
  }
  return out
}

function stormReport (storm, cfg, target) {
  const med = (kind, key) => lib.median(storm[kind].map((r) => r[key]))
  const p = (key) => med('parley', key)
  const f = (key) => med('floor', key)
  const ratio = (a, b) => (b ? a / b : NaN)
  const rows = [
    ['connect rate (sockets/s)', fmt(p('connectPerSec')), fmt(f('connectPerSec')), fmt(ratio(p('connectPerSec'), f('connectPerSec')), 2), '≥ 0.6×', ratio(p('connectPerSec'), f('connectPerSec')) >= 0.6 ? 'ok' : 'MISS'],
    ['SIGTERM → listening (ms)', fmt(p('downMs')), fmt(f('downMs')), fmt(ratio(p('downMs'), f('downMs')), 2), '', ''],
    ['listening → every socket back (ms)', fmt(p('backMs')), fmt(f('backMs')), fmt(ratio(p('backMs'), f('backMs')), 2), '', ''],
    ['listening → every socket back and page served (ms)', fmt(p('doneMs')), fmt(f('doneMs')), fmt(ratio(p('doneMs'), f('doneMs')), 2), `≤ ${target}×`, ratio(p('doneMs'), f('doneMs')) <= target ? 'ok' : 'MISS'],
    ['pages after listening', fmt(p('pagesAfterListening')), fmt(f('pagesAfterListening')), '', '', ''],
    ['page p99 (ms)', fmt(p('pageP99Ms'), 1), fmt(f('pageP99Ms'), 1), fmt(ratio(p('pageP99Ms'), f('pageP99Ms')), 2), '', ''],
    ['server CPU from listening (ms)', fmt(p('serverCpuMs')), fmt(f('serverCpuMs')), fmt(ratio(p('serverCpuMs'), f('serverCpuMs')), 2), '', ''],
    ['refused sockets (all rounds)', sum(storm.parley, 'refusedSockets'), sum(storm.floor, 'refusedSockets'), '', '0', sum(storm.parley, 'refusedSockets') === 0 ? 'ok' : 'MISS'],
    ['5xx pages (all rounds)', sum(storm.parley, 'page5xx'), sum(storm.floor, 'page5xx'), '', '0', sum(storm.parley, 'page5xx') === 0 ? 'ok' : 'MISS'],
    ['load generator CPU (ms)', fmt(p('clientCpuMs')), fmt(f('clientCpuMs')), '', '', '']
  ]
  const d = storm.defaultLimits
  if (d) {
    rows.push(['default limits: back and served (ms)', fmt(d.doneMs), '', '', '', ''])
    rows.push(['default limits: refused sockets, 5xx', `${d.refusedSockets} ${d.refusedSockets ? JSON.stringify(d.refused) : ''}, ${d.page5xx}`, '', '', '', ''])
  }
  return {
    title: `Restart storm: ${fmt(cfg.sockets)} sockets over ${cfg.rooms} rooms of ${fmt(cfg.messages)} messages, SIGTERM and restart (median of ${storm.parley.length})`,
    headers: ['Figure', 'Parley', 'Floor (ws + presence + stored JSON)', 'Parley/Floor', 'Target', 'Result'],
    rows
  }
}

function sum (runs, key) {
  return runs.reduce((a, r) => a + (r[key] || 0), 0)
}

module.exports = { stormRun, stormReport, stormDb }
