'use strict'
// Direct-message load generator, run as a child of bench/run.js (IPC). It holds two
// arrangements of the same size on one server, and loads one of them per step:
//   dm    N pairs of DM sockets: sender ws/dm/<s_i>, receiver ws/dm/<r_i>; the sender
//         sends {"type":"dm_message","receiver_id":"<r_i>","content":…}
//   room  N rooms of 2: sender and receiver sockets ws/<room_i>/<user>; the sender
//         sends {"content":…}, which every socket of the room (the sender too) gets
// Senders and receivers live in this process: latency is receipt time − send time on
// one monotonic clock (the send time is in the content, as in bench/fanout-client.js).
//
// Parent → child: {cmd:'init', ...}, {cmd:'step', kind, ...}, {cmd:'exit'}
// Child → parent: {ev:'ready'}, {ev:'window-start'}, {ev:'drained'}, {ev:'result', ...}
//
// Content is "~<step><phase>:<send time µs>:<padding>", phase w (warm-up) or m (measured).
// Delivered = a receiver socket got the message. Stored = the server confirmed it to the
// sending socket after its commit: dm_sent for a DM (matched to the sends of that socket
// in order: a DM socket handles its frames one at a time), the room's echo for a room
// message (it carries the content).

const WebSocket = require('ws')
const { HIST_SIZE, histIndex } = require('./lib')

const MARK = Buffer.from('"content":"~')
const ERROR_MARK = Buffer.from('"type":"error"')
const DM_SENT_MARK = Buffer.from('"type":"dm_sent"')
const PHASE_M = 'm'.charCodeAt(0)

const sets = { dm: { senders: [], receivers: [] }, room: { senders: [], receivers: [] } }
const all = []
const closes = {}
let pad = ''

// Per-step state (module scope: one step at a time).
let curStep = -1
let st = newStepState()

function newStepState () {
  return {
    delivered: 0,
    stored: 0,
    stale: 0,
    errorFrames: 0,
    errorCodes: {},
    otherFrames: 0,
    binaryFrames: 0,
    hist: new Uint32Array(HIST_SIZE),
    latMax: 0,
    latSum: 0,
    storeHist: new Uint32Array(HIST_SIZE),
    storeLatMax: 0
  }
}

/** The step, phase and send time (µs) of a marker at data[i]; null if it is not one. */
function parseMark (data, i) {
  let p = i + MARK.length
  let step = 0
  let c = data[p++]
  while (c >= 48 && c <= 57) { step = step * 10 + c - 48; c = data[p++] }
  const phase = c
  p++ // ':'
  let ts = 0
  c = data[p++]
  while (c >= 48 && c <= 57) { ts = ts * 10 + c - 48; c = data[p++] }
  return { step, phase, ts }
}

function other (data) {
  st.otherFrames++
  if (data.indexOf(ERROR_MARK) >= 0) {
    st.errorFrames++
    // Rare, so parsed: which refusal (overloaded, rate_limited…) tells what was hit.
    let code = 'unknown'
    try { code = JSON.parse(data).code || code } catch {}
    st.errorCodes[code] = (st.errorCodes[code] || 0) + 1
    return true
  }
  return false
}

function stored (tsUs) {
  const lat = (performance.now() * 1000 - tsUs) / 1000
  st.storeHist[histIndex(lat)]++
  st.stored++
  if (lat > st.storeLatMax) st.storeLatMax = lat
}

/** Receiver sockets (both arrangements): a message with this step's measured marker is delivered. */
function onReceiverMessage (data, isBinary) {
  if (isBinary) st.binaryFrames++
  const i = data.indexOf(MARK)
  if (i < 0) { other(data); return }
  const m = parseMark(data, i)
  if (m.step !== curStep || m.phase !== PHASE_M) { st.stale++; return }
  const lat = (performance.now() * 1000 - m.ts) / 1000
  st.hist[histIndex(lat)]++
  st.delivered++
  st.latSum += lat
  if (lat > st.latMax) st.latMax = lat
}

/** A room's sender: its own echo is the confirmation that the message was stored. */
function onRoomSenderMessage (data, isBinary) {
  if (isBinary) st.binaryFrames++
  const i = data.indexOf(MARK)
  if (i < 0) { other(data); return }
  const m = parseMark(data, i)
  if (m.step === curStep && m.phase === PHASE_M) stored(m.ts)
}

/** A DM sender: dm_sent (or a refusal) answers its oldest unanswered send. */
function onDmSenderMessage (data, isBinary) {
  if (isBinary) st.binaryFrames++
  const isSent = data.indexOf(DM_SENT_MARK) >= 0
  if (!isSent && !other(data)) return
  const pending = this.benchPending
  if (this.benchHead >= pending.length) return
  const entry = pending[this.benchHead++]
  if (this.benchHead >= 1024) { pending.splice(0, this.benchHead); this.benchHead = 0 }
  if (isSent && entry.step === curStep && entry.measured) stored(entry.ts)
}

function sparse (h) {
  const out = []
  for (let i = 0; i < h.length; i++) if (h[i] !== 0) out.push(i, h[i])
  return out
}

function connectAll ({ wsUrl, pairs, concurrency, userPrefix }) {
  const targets = []
  for (let i = 0; i < pairs; i++) {
    const s = `${userPrefix}-dm-s${i}`
    const r = `${userPrefix}-dm-r${i}`
    targets.push({ i, kind: 'dm', role: 'receivers', url: `${wsUrl}/ws/dm/${r}?username=dmr${i}` })
    targets.push({ i, kind: 'dm', role: 'senders', url: `${wsUrl}/ws/dm/${s}?username=dms${i}`, peer: r })
    const room = `${userPrefix}-room-${i}`
    targets.push({ i, kind: 'room', role: 'receivers', url: `${wsUrl}/ws/${room}/${userPrefix}-rm-r${i}?username=rmr${i}` })
    targets.push({ i, kind: 'room', role: 'senders', url: `${wsUrl}/ws/${room}/${userPrefix}-rm-s${i}?username=rms${i}` })
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
        const ws = new WebSocket(t.url, { perMessageDeflate: false })
        ws.benchIndex = t.i
        if (t.role === 'receivers') ws.on('message', onReceiverMessage)
        else if (t.kind === 'room') ws.on('message', onRoomSenderMessage)
        else {
          ws.benchPending = []
          ws.benchHead = 0
          ws.benchFrame = `{"type":"dm_message","receiver_id":${JSON.stringify(t.peer)},"content":"~`
          ws.on('message', onDmSenderMessage)
        }
        if (t.kind === 'room' && t.role === 'senders') ws.benchFrame = '{"content":"~'
        let settled = false
        ws.once('open', () => {
          settled = true
          sets[t.kind][t.role].push(ws)
          all.push(ws)
          active--
          pump()
        })
        ws.on('error', (err) => {
          if (!settled) {
            settled = true
            failed++
            if (failures.length < 5) failures.push(`${t.kind} ${t.role}: ${err.message}`)
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

function runStep ({ step, kind, msgRate, warmupMs, measureMs, drainMs }) {
  curStep = step
  st = newStepState()
  const senders = sets[kind].senders
  const dm = kind === 'dm'
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
    }
    while (sent < due) {
      const scheduled = t0 + sent / perMs
      if (scheduled >= measureEnd) break
      const measured = scheduled >= measureStart
      const ws = senders[sent % senders.length]
      const ts = Math.round(performance.now() * 1000)
      if (dm) ws.benchPending.push({ step, measured, ts })
      ws.send(`${ws.benchFrame}${step}${measured ? 'm' : 'w'}:${ts}:${pad}"}`)
      sent++
      if (measured) sentMeasured++
    }
    if (now >= measureEnd) {
      clearInterval(timer)
      drain()
    }
  }, 2)

  function drain () {
    const deadline = performance.now() + drainMs
    const poll = setInterval(() => {
      const now = performance.now()
      if ((st.delivered < sentMeasured || st.stored < sentMeasured) && now < deadline) return
      clearInterval(poll)
      const cpu = process.cpuUsage(cpu0)
      const wall = now - wall0
      const s = st
      process.send({ ev: 'drained' })
      process.send({
        ev: 'result',
        step,
        kind,
        sent,
        sentMeasured,
        delivered: s.delivered,
        stored: s.stored,
        stale: s.stale,
        errorFrames: s.errorFrames,
        errorCodes: s.errorCodes,
        otherFrames: s.otherFrames,
        binaryFrames: s.binaryFrames,
        closes: { ...closes },
        hist: sparse(s.hist),
        latMax: s.latMax,
        latSum: s.latSum,
        storeHist: sparse(s.storeHist),
        storeLatMax: s.storeLatMax,
        drainMs: now - measureEnd,
        genCpuMs: (cpu.user + cpu.system) / 1000,
        genWallMs: wall,
        sendLagMaxMs: lagMax
      })
    }, 5)
  }
}

process.on('message', async (msg) => {
  if (msg.cmd === 'init') {
    pad = 'x'.repeat(Math.max(0, msg.contentBytes || 0))
    const t = performance.now()
    const { failed, failures } = await connectAll(msg)
    // Senders in pair order, so a step's sends go round the pairs evenly.
    for (const set of Object.values(sets)) for (const role of ['senders', 'receivers']) set[role].sort((a, b) => a.benchIndex - b.benchIndex)
    process.send({
      ev: 'ready',
      sockets: all.length,
      dm: { senders: sets.dm.senders.length, receivers: sets.dm.receivers.length },
      room: { senders: sets.room.senders.length, receivers: sets.room.receivers.length },
      failed,
      failures,
      connectMs: performance.now() - t
    })
  } else if (msg.cmd === 'step') {
    runStep(msg)
  } else if (msg.cmd === 'exit') {
    for (const ws of all) ws.terminate()
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
// Never outlive a stuck parent.
setTimeout(() => process.exit(3), Number(process.argv[2] || 1_800_000)).unref()
