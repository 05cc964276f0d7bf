'use strict'
// Fan-out load generator, run as a child of bench/run.js (IPC). It owns whole rooms:
// every socket of a room, senders and receivers, lives in this process, so latency
// is receipt time − send time on one monotonic clock.
//
// Parent → child: {cmd:'init', ...}, {cmd:'step', ...}, {cmd:'exit'}
// Child → parent: {ev:'ready'}, {ev:'window-start'}, {ev:'drained'}, {ev:'result', ...}
//
// A chat frame is {"content":"~<step><phase>:<send time µs>:<padding>"}; phase is
// w (warm-up) or m (measured). Receipts are scanned for that marker in the raw
// buffer, without JSON.parse, to keep the generator cheap.
//
// Several instances (init with wsUrls: [A, B, …] instead of wsUrl): a room's senders
// connect to the first, its other sockets alternate over all of them, and receipts
// are also counted per instance ("group"), so A's and B's latencies can be told apart.

const WebSocket = require('ws')
const { HIST_SIZE, histIndex } = require('./lib')

const MARK = Buffer.from('"content":"~')
const ERROR_MARK = Buffer.from('"type":"error"')
const PHASE_M = 'm'.charCodeAt(0)

let sockets = []
let senders = []
let socketsPerRoom = 0
let sendersPerRoom = 0
let pad = ''

// Per-step receive state (module scope: one step at a time).
let curStep = -1
let received = 0
let stale = 0
let errorFrames = 0
let errorCodes = {}
let otherFrames = 0
let binaryFrames = 0
let hist = new Uint32Array(HIST_SIZE)
let latMax = 0
let latSum = 0
const closes = {}
// Per instance (only with wsUrls): sockets per room, and per-step receive figures.
let groupSockets = null
let groups = null

function newGroups () {
  return groupSockets && groupSockets.map(() => ({ received: 0, latSum: 0, latMax: 0, hist: new Uint32Array(HIST_SIZE) }))
}

function onMessage (data, isBinary) {
  if (isBinary) binaryFrames++
  const i = data.indexOf(MARK)
  if (i < 0) {
    otherFrames++
    if (data.indexOf(ERROR_MARK) >= 0) {
      errorFrames++
      // Rare, so parsed: which refusal (overloaded, rate_limited…) tells what was hit.
      let code = 'unknown'
      try { code = JSON.parse(data).code || code } catch {}
      errorCodes[code] = (errorCodes[code] || 0) + 1
    }
    return
  }
  let p = i + MARK.length
  let step = 0
  let c = data[p++]
  while (c >= 48 && c <= 57) { step = step * 10 + c - 48; c = data[p++] }
  if (step !== curStep || c !== PHASE_M) { stale++; return }
  p++ // ':'
  let ts = 0
  c = data[p++]
  while (c >= 48 && c <= 57) { ts = ts * 10 + c - 48; c = data[p++] }
  const lat = (performance.now() * 1000 - ts) / 1000
  const h = histIndex(lat)
  hist[h]++
  received++
  latSum += lat
  if (lat > latMax) latMax = lat
  if (groups !== null) {
    const g = groups[this.benchGroup]
    g.hist[h]++
    g.received++
    g.latSum += lat
    if (lat > g.latMax) g.latMax = lat
  }
}

/** Which of the wsUrls socket i of a room uses: senders on the first, the others alternating. */
function groupOf (i, n) {
  return i < sendersPerRoom ? 0 : (i - sendersPerRoom) % n
}

function sparse (h) {
  const out = []
  for (let i = 0; i < h.length; i++) if (h[i] !== 0) out.push(i, h[i])
  return out
}

function connectAll ({ wsUrl, wsUrls, rooms, concurrency, userPrefix }) {
  const urls = wsUrls || [wsUrl]
  const targets = []
  for (const room of rooms) {
    for (let i = 0; i < socketsPerRoom; i++) targets.push({ room, user: `${userPrefix}-${room}-u${i}`, i, group: groupOf(i, urls.length) })
  }
  if (wsUrls) {
    groupSockets = urls.map(() => 0)
    for (let i = 0; i < socketsPerRoom; i++) groupSockets[groupOf(i, urls.length)]++
  }
  let next = 0
  let failed = 0
  const failures = []
  return new Promise((resolve) => {
    let active = 0
    const pump = () => {
      while (active < concurrency && next < targets.length) {
        const t = targets[next++]
        active++
        const ws = new WebSocket(`${urls[t.group]}/ws/${encodeURIComponent(t.room)}/${encodeURIComponent(t.user)}?username=bench${t.i}`,
          { perMessageDeflate: false })
        ws.benchRoom = t.room
        ws.benchGroup = t.group
        let settled = false
        ws.on('message', onMessage)
        ws.once('open', () => {
          settled = true
          sockets.push(ws)
          if (t.i < sendersPerRoom) senders.push(ws)
          active--
          pump()
        })
        ws.on('error', (err) => {
          if (!settled) {
            settled = true
            failed++
            if (failures.length < 5) failures.push(err.message)
            active--
            pump()
          }
        })
        ws.on('close', (code) => { closes[code] = (closes[code] || 0) + 1 })
      }
      if (active === 0 && next >= targets.length) resolve({ failed, failures })
    }
    pump()
  })
}

function interleaveSenders (rooms) {
  // Round-robin over rooms, so each room gets every (rooms.length)-th message.
  const byRoom = rooms.map(() => [])
  const roomOf = new Map(rooms.map((r, i) => [r, i]))
  for (const ws of senders) byRoom[roomOf.get(ws.benchRoom)].push(ws)
  const out = []
  for (let k = 0; k < sendersPerRoom; k++) for (const list of byRoom) if (list[k]) out.push(list[k])
  senders = out
}

function runStep ({ step, msgRate, warmupMs, measureMs, drainMs }) {
  curStep = step
  received = 0
  stale = 0
  errorFrames = 0
  errorCodes = {}
  otherFrames = 0
  binaryFrames = 0
  hist = new Uint32Array(HIST_SIZE)
  latMax = 0
  latSum = 0
  groups = newGroups()

  const perMs = msgRate / 1000
  const t0 = performance.now()
  const measureStart = t0 + warmupMs
  const measureEnd = measureStart + measureMs
  let sent = 0
  let sentMeasured = 0
  let windowStarted = false
  let cpu0 = null
  let wall0 = 0
  let lagMax = 0
  let lagSum = 0
  let lagTicks = 0

  const timer = setInterval(() => {
    const now = performance.now()
    if (!windowStarted && now >= measureStart) {
      windowStarted = true
      cpu0 = process.cpuUsage()
      wall0 = now
      process.send({ ev: 'window-start' })
    }
    const due = Math.floor((now - t0) * perMs)
    if (due > sent) {
      // How late the oldest due message is: the generator's own saturation.
      const lag = now - (t0 + sent / perMs)
      if (lag > lagMax) lagMax = lag
      lagSum += lag
      lagTicks++
    }
    while (sent < due) {
      const scheduled = t0 + sent / perMs
      if (scheduled >= measureEnd) break
      const measured = scheduled >= measureStart
      const ws = senders[sent % senders.length]
      const ts = Math.round(performance.now() * 1000)
      ws.send(`{"content":"~${step}${measured ? 'm' : 'w'}:${ts}:${pad}"}`)
      sent++
      if (measured) sentMeasured++
    }
    if (now >= measureEnd) {
      clearInterval(timer)
      drain()
    }
  }, 2)

  function drain () {
    const expected = sentMeasured * socketsPerRoom
    const deadline = performance.now() + drainMs
    const poll = setInterval(() => {
      const now = performance.now()
      if (received < expected && now < deadline) return
      clearInterval(poll)
      const cpu = process.cpuUsage(cpu0)
      const wall = now - wall0
      process.send({ ev: 'drained' })
      process.send({
        ev: 'result',
        step,
        sent,
        sentMeasured,
        expected,
        received,
        stale,
        errorFrames,
        errorCodes,
        otherFrames,
        binaryFrames,
        closes: { ...closes },
        hist: sparse(hist),
        // Per instance, with wsUrls: expected is sentMeasured × that instance's sockets per room.
        groups: groups && groups.map((g, i) => ({
          sockets: groupSockets[i], expected: sentMeasured * groupSockets[i], received: g.received, latSum: g.latSum, latMax: g.latMax, hist: sparse(g.hist)
        })),
        latMax,
        latSum,
        drainMs: now - measureEnd,
        genCpuMs: (cpu.user + cpu.system) / 1000,
        genWallMs: wall,
        sendLagMaxMs: lagMax,
        sendLagMeanMs: lagTicks ? lagSum / lagTicks : 0
      })
    }, 5)
  }
}

process.on('message', async (msg) => {
  if (msg.cmd === 'init') {
    socketsPerRoom = msg.socketsPerRoom
    sendersPerRoom = msg.sendersPerRoom
    pad = 'x'.repeat(Math.max(0, msg.contentBytes || 0))
    const t = performance.now()
    const { failed, failures } = await connectAll(msg)
    interleaveSenders(msg.rooms)
    process.send({ ev: 'ready', sockets: sockets.length, groupSockets, failed, failures, connectMs: performance.now() - t })
  } else if (msg.cmd === 'step') {
    runStep(msg)
  } else if (msg.cmd === 'exit') {
    for (const ws of sockets) ws.terminate()
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
// Never outlive a stuck parent.
setTimeout(() => process.exit(3), Number(process.argv[2] || 1_800_000)).unref()
