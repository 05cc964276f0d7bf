'use strict'
// Restart-storm load generator, run as a child of bench/restart-storm.js (IPC). Each of
// N simulated clients holds one room socket. Armed, a client whose socket closes does
// what the client does after a deploy: reconnects with the current client's backoff
// (min(1000·2^(n-1), 5000) ms, 10 tries; here with ±20 % jitter), polls
// GET /rooms/:id/messages?limit=100 every 3 s while the socket is down, and fetches
// that page once when the socket is back.
//
// Parent → child: {cmd:'open', wsUrl, httpUrl, count, rooms, concurrency, prefix}
//                 {cmd:'arm'}, {cmd:'listening', at}, {cmd:'exit'}
// Child → parent: {ev:'opened', open, failed, failures, ms, rate},
//                 {ev:'done', ...figures} once every socket is back and every page served

const http = require('node:http')
const WebSocket = require('ws')

const TRIES = 10
const POLL_MS = 3000
const PAGE_TIMEOUT_MS = 15_000 // axios's timeout in the client
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 })

let clients = []
let armed = false
let listeningAt = null
let opts = null
const pages = [] // {t0, t1, status | err}
const attempts = [] // failed attempts: {t0, why}
let closesAfterBack = 0
let gaveUp = 0
let inFlight = 0

function page (c, why) {
  const t0 = Date.now()
  inFlight++
  const done = (entry) => {
    inFlight--
    pages.push({ t0, t1: Date.now(), why, ...entry })
    check()
  }
  const req = http.get(`${opts.httpUrl}/rooms/${encodeURIComponent(c.room)}/messages?limit=100`, { agent, timeout: PAGE_TIMEOUT_MS }, (res) => {
    res.resume()
    res.on('end', () => done({ status: res.statusCode }))
    res.on('error', (err) => done({ err: err.code || err.message }))
  })
  req.on('timeout', () => req.destroy(new Error('timeout')))
  req.on('error', (err) => done({ err: err.code || err.message }))
}

function connect (c, onFirst) {
  const t0 = Date.now()
  // The frames are not read here: no UTF-8 check of each, so the generator is not what is measured.
  const ws = new WebSocket(`${opts.wsUrl}/ws/${encodeURIComponent(c.room)}/${encodeURIComponent(c.user)}`, { perMessageDeflate: false, skipUTF8Validation: true })
  let open = false
  ws.once('open', () => {
    open = true
    c.ws = ws
    c.tries = 0
    c.backAt = Date.now()
    if (c.poll) clearInterval(c.poll)
    c.poll = null
    if (onFirst) onFirst(null)
    // The client loads the page once when its room socket is back.
    else page(c, 'connect')
    check()
  })
  ws.on('error', (err) => {
    if (open) return
    attempts.push({ t0, why: /Unexpected server response: (\d+)/.exec(err.message)?.[1] || err.code || err.message })
  })
  ws.on('close', () => {
    if (!open) {
      if (onFirst) return onFirst(new Error('initial connect failed'))
      return retry(c)
    }
    if (!armed) return
    if (c.backAt !== null && listeningAt !== null && c.backAt >= listeningAt) closesAfterBack++
    c.ws = null
    c.backAt = null
    c.down = Date.now()
    c.poll = setInterval(() => page(c, 'poll'), POLL_MS)
    retry(c)
  })
}

function retry (c) {
  c.tries++
  if (c.tries > TRIES) {
    gaveUp++
    if (c.poll) clearInterval(c.poll)
    c.poll = null
    c.gaveUp = true
    return check()
  }
  const delay = Math.min(1000 * 2 ** (c.tries - 1), 5000) * (0.8 + 0.4 * Math.random())
  setTimeout(() => connect(c), delay)
}

function openAll ({ count, rooms, concurrency, prefix }) {
  let next = 0
  let active = 0
  let failed = 0
  const failures = []
  const t0 = performance.now()
  return new Promise((resolve) => {
    const pump = () => {
      while (active < concurrency && next < count) {
        const i = next++
        active++
        const c = { room: `${prefix}-room${i % rooms}`, user: `${prefix}-u${i}`, ws: null, tries: 0, backAt: null, poll: null, down: null }
        clients.push(c)
        connect(c, (err) => {
          if (err) {
            failed++
            if (failures.length < 5) failures.push(err.message)
          }
          active--
          pump()
        })
      }
      if (active === 0 && next >= count) {
        const ms = performance.now() - t0
        const open = clients.filter((c) => c.ws).length
        resolve({ open, failed, failures, ms, rate: (open / ms) * 1000 })
      }
    }
    pump()
  })
}

let reported = false
function check () {
  if (!armed || listeningAt === null || reported) return
  if (inFlight > 0) return
  if (!clients.every((c) => c.gaveUp || (c.ws && c.backAt !== null))) return
  // Every socket back, and its page on connect served (nothing in flight).
  reported = true
  process.send({ ev: 'done', ...figures() })
}

function figures () {
  const after = pages.filter((p) => p.t0 >= listeningAt)
  const ok = after.filter((p) => p.status !== undefined)
  const lat = ok.map((p) => p.t1 - p.t0).sort((a, b) => a - b)
  const pct = (q) => (lat.length ? lat[Math.min(lat.length - 1, Math.ceil(q * lat.length) - 1)] : NaN)
  const refused = {}
  for (const a of attempts) if (a.t0 >= listeningAt) refused[a.why] = (refused[a.why] || 0) + 1
  const backs = clients.filter((c) => c.backAt !== null).map((c) => c.backAt)
  const lastPage = Math.max(0, ...pages.map((p) => p.t1))
  const cpu = process.cpuUsage()
  return {
    listeningAt,
    back: backs.length,
    backMs: Math.max(...backs) - listeningAt,
    servedMs: lastPage - listeningAt,
    doneMs: Math.max(Math.max(...backs), lastPage) - listeningAt,
    pagesAfterListening: after.length,
    pagesOnConnect: after.filter((p) => p.why === 'connect').length,
    pagesWhileDown: pages.filter((p) => p.t0 < listeningAt).length,
    pageP50Ms: pct(0.5),
    pageP99Ms: pct(0.99),
    pageStatus: count(ok.map((p) => p.status)),
    page5xx: ok.filter((p) => p.status >= 500).length,
    pageErrors: count(after.filter((p) => p.err).map((p) => p.err)),
    refusedSockets: Object.values(refused).reduce((a, b) => a + b, 0),
    refused,
    attemptsWhileDown: attempts.filter((a) => a.t0 < listeningAt).length,
    closesAfterBack,
    gaveUp,
    clientCpuMs: (cpu.user + cpu.system) / 1000
  }
}

function count (values) {
  const out = {}
  for (const v of values) out[v] = (out[v] || 0) + 1
  return out
}

process.on('message', async (msg) => {
  if (msg.cmd === 'open') {
    opts = msg
    const result = await openAll(msg)
    process.send({ ev: 'opened', ...result })
  } else if (msg.cmd === 'arm') {
    armed = true
  } else if (msg.cmd === 'listening') {
    listeningAt = msg.at
    check()
  } else if (msg.cmd === 'exit') {
    for (const c of clients) {
      if (c.poll) clearInterval(c.poll)
      if (c.ws) c.ws.terminate()
    }
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
setTimeout(() => process.exit(3), Number(process.argv[2] || 600_000)).unref()
