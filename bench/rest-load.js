'use strict'
// One autocannon run in its own process; prints one JSON line with the figures.
//
//   node bench/rest-load.js '{"url":"http://127.0.0.1:8000/rooms/r/messages?limit=100","duration":10}'

const autocannon = require('autocannon')

const opts = JSON.parse(process.argv[2])

autocannon({
  url: opts.url,
  method: opts.method || 'GET',
  body: opts.body,
  headers: opts.body ? { 'content-type': 'application/json' } : undefined,
  connections: opts.connections || 10,
  pipelining: 1,
  duration: opts.duration || 10,
  timeout: 10
}, (err, result) => {
  if (err) {
    console.error(err)
    process.exit(1)
  }
  console.log(JSON.stringify({
    reqPerSec: result.requests.average,
    total: result.requests.total,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    latencyMean: result.latency.average,
    latencyMax: result.latency.max,
    throughputBytesPerSec: result.throughput.average,
    non2xx: result.non2xx,
    statusCodes: result.statusCodeStats,
    errors: result.errors,
    timeouts: result.timeouts,
    durationS: result.duration
  }))
})
