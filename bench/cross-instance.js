'use strict'
// Cross-instance delivery latency: a message sent on instance A and received on
// instance B (PostgreSQL store, Redis fan-out), beside the same send and receive on
// one instance, measured in one run. Needs DATABASE_URL (postgres://) and REDIS_URL.
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379 node bench/cross-instance.js
// Writes bench/results/cross-instance-<time>.json.

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const WebSocket = require('ws')

const ROOT = path.resolve(__dirname, '..')
const SERVER = path.join(ROOT, 'dist', 'src', 'server.js')
const MESSAGES = Number(process.env.MESSAGES ?? 2000)
const RATE = Number(process.env.RATE ?? 400) // messages a second, one sender
const READERS = Number(process.env.READERS ?? 20)
const { DATABASE_URL, REDIS_URL } = process.env
if (!DATABASE_URL || !REDIS_URL) {
  console.error('set DATABASE_URL (postgres://…) and REDIS_URL (redis://…)')
  process.exit(2)
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const children = []
process.on('exit', () => { for (const c of children) try { c.kill('SIGKILL') } catch {} })

function freePort () {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
  })
}

async function start (env) {
  const port = await freePort()
  const child = spawn(process.execPath, [SERVER], {
    env: { PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '100000000', WS_MESSAGE_RATE: '100000', WS_MESSAGE_BURST: '100000', WS_FRAME_RATE: '100000', WS_FRAME_BURST: '100000', MAX_SOCKETS_PER_IP: '100000', ...env },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  children.push(child)
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`http://127.0.0.1:${port}/`)).ok) return { port, child } } catch {}
    await sleep(50)
  }
  throw new Error('server did not start')
}

function open (url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]

/** One sender on `sendPort`, READERS readers on `readPort`; latency = receipt − send (one clock). */
async function measure (name, sendPort, readPort) {
  const room = `bench-${name}-${Date.now()}`
  const latencies = []
  const readers = []
  for (let i = 0; i < READERS; i++) {
    const ws = await open(`ws://127.0.0.1:${readPort}/ws/${room}/reader${i}`)
    ws.on('message', (data) => {
      const text = data.toString()
      const at = text.indexOf('"content":"t')
      if (at < 0) return
      const sent = Number(text.slice(at + 12, text.indexOf('"', at + 12)))
      latencies.push(performance.timeOrigin + performance.now() - sent)
    })
    readers.push(ws)
  }
  const sender = await open(`ws://127.0.0.1:${sendPort}/ws/${room}/sender`)
  await sleep(500)
  const interval = 1000 / RATE
  const t0 = performance.now()
  for (let i = 0; i < MESSAGES; i++) {
    const due = t0 + i * interval
    const wait = due - performance.now()
    if (wait > 1) await sleep(wait)
    sender.send(JSON.stringify({ content: `t${performance.timeOrigin + performance.now()}` }))
  }
  const deadline = Date.now() + 10_000
  while (latencies.length < MESSAGES * READERS && Date.now() < deadline) await sleep(50)
  for (const ws of [...readers, sender]) ws.terminate()
  latencies.sort((a, b) => a - b)
  return {
    name,
    delivered: latencies.length / (MESSAGES * READERS),
    p50: +pct(latencies, 0.5).toFixed(2),
    p99: +pct(latencies, 0.99).toFixed(2),
    max: +latencies[latencies.length - 1].toFixed(2)
  }
}

async function main () {
  const schema = `parley_bench_${process.pid}`
  const shared = { DATABASE_URL, DATABASE_SCHEMA: schema }
  const single = await start(shared)
  const a = await start({ ...shared, REDIS_URL, REDIS_PREFIX: `bench-${process.pid}` })
  const b = await start({ ...shared, REDIS_URL, REDIS_PREFIX: `bench-${process.pid}` })
  const rows = []
  rows.push(await measure('single instance (PostgreSQL, in-process fan-out)', single.port, single.port))
  rows.push(await measure('same instance (PostgreSQL + Redis)', a.port, a.port))
  rows.push(await measure('cross-instance A → B (PostgreSQL + Redis)', a.port, b.port))
  console.log(`\n${MESSAGES} messages at ${RATE}/s from one sender to ${READERS} readers; node ${process.version}\n`)
  console.log('| path | delivered | p50 ms | p99 ms | max ms |')
  console.log('|---|---|---|---|---|')
  for (const r of rows) console.log(`| ${r.name} | ${(r.delivered * 100).toFixed(2)}% | ${r.p50} | ${r.p99} | ${r.max} |`)
  const base = rows[0]
  const cross = rows[2]
  console.log(`\ncross-instance / single: p50 ${(cross.p50 / base.p50).toFixed(2)}×, p99 ${(cross.p99 / base.p99).toFixed(2)}×`)
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true })
  fs.writeFileSync(path.join(__dirname, 'results', `cross-instance-${Date.now()}.json`), JSON.stringify({ messages: MESSAGES, rate: RATE, readers: READERS, node: process.version, rows }, null, 2))
  for (const c of children) c.kill('SIGTERM')
  await sleep(500)
  const pg = require('pg')
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 })
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await pool.end()
}

main().catch((err) => { console.error(err); process.exit(1) })
