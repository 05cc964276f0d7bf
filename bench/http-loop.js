'use strict'
// A tight loop of GET requests over one keep-alive connection, in its own process,
// timed with hrtime (autocannon's latencies are whole milliseconds, too coarse to
// compare two ~1 ms page reads). Prints one JSON line.
//
//   node bench/http-loop.js '{"url":"http://127.0.0.1:8000/rooms/r/messages?limit=100","durationMs":5000,"warmupMs":1000}'

const http = require('node:http')

const opts = JSON.parse(process.argv[2])
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })

function get (url) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent }, (res) => {
      let bytes = 0
      res.on('data', (c) => { bytes += c.length })
      res.on('end', () => resolve({ status: res.statusCode, bytes }))
    }).on('error', reject)
  })
}

async function loop (durationMs, record) {
  const end = performance.now() + durationMs
  let n = 0
  while (performance.now() < end) {
    const t = process.hrtime.bigint()
    const { status, bytes } = await get(opts.url)
    const us = Number(process.hrtime.bigint() - t) / 1000
    if (record) record(us, status, bytes)
    n++
  }
  return n
}

async function main () {
  await loop(opts.warmupMs ?? 1000, null)
  const lat = []
  let non2xx = 0
  let bytes = 0
  const t0 = performance.now()
  await loop(opts.durationMs ?? 5000, (us, status, b) => {
    lat.push(us)
    bytes = b
    if (status < 200 || status > 299) non2xx++
  })
  const wall = performance.now() - t0
  lat.sort((a, b) => a - b)
  const pct = (p) => lat[Math.min(lat.length - 1, Math.max(0, Math.ceil((p / 100) * lat.length) - 1))] / 1000
  console.log(JSON.stringify({
    requests: lat.length,
    reqPerSec: (lat.length / wall) * 1000,
    p50Ms: pct(50),
    p99Ms: pct(99),
    meanMs: lat.reduce((a, b) => a + b, 0) / lat.length / 1000,
    maxMs: lat[lat.length - 1] / 1000,
    responseBytes: bytes,
    non2xx
  }))
  agent.destroy()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
