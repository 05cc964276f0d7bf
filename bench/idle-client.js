'use strict'
// Capacity load generator, run as a child of bench/run.js (IPC): opens N idle sockets
// (spread over rooms and over several 127.0.0.x source addresses, so ephemeral ports
// never run out), reports the connect rate, holds them until told to close.
//
// Parent → child: {cmd:'open', wsUrl, count, rooms, concurrency, localAddresses, prefix}
//                 {cmd:'close'}, {cmd:'exit'}
// Child → parent: {ev:'opened', open, failed, failures, ms, rate}, {ev:'closed'}

const WebSocket = require('ws')

let sockets = []
const closes = {}

function openAll ({ wsUrl, count, rooms, concurrency, localAddresses, prefix }) {
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
        const room = `${prefix}-room${i % rooms}`
        const ws = new WebSocket(`${wsUrl}/ws/${room}/${prefix}-u${i}?username=idle${i}`, {
          perMessageDeflate: false,
          localAddress: localAddresses[i % localAddresses.length]
        })
        let settled = false
        ws.once('open', () => {
          settled = true
          sockets.push(ws)
          active--
          pump()
        })
        ws.on('error', (err) => {
          if (settled) return
          settled = true
          failed++
          if (failures.length < 5) failures.push(err.message)
          active--
          pump()
        })
        ws.on('close', (code) => { closes[code] = (closes[code] || 0) + 1 })
      }
      if (active === 0 && next >= count) {
        const ms = performance.now() - t0
        resolve({ open: sockets.length, failed, failures, ms, rate: (sockets.length / ms) * 1000 })
      }
    }
    pump()
  })
}

process.on('message', async (msg) => {
  if (msg.cmd === 'open') {
    const result = await openAll(msg)
    process.send({ ev: 'opened', ...result, closes: { ...closes } })
  } else if (msg.cmd === 'close') {
    const all = sockets
    sockets = []
    await Promise.all(all.map((ws) => new Promise((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) return resolve()
      ws.once('close', resolve)
      ws.close(1000)
      setTimeout(() => { ws.terminate(); resolve() }, 3000).unref()
    })))
    process.send({ ev: 'closed', closes: { ...closes } })
  } else if (msg.cmd === 'exit') {
    for (const ws of sockets) ws.terminate()
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
setTimeout(() => process.exit(3), Number(process.argv[2] || 1_800_000)).unref()
