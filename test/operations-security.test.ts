import t from 'tap'
import { once } from 'node:events'
import { connect as connectTcp } from 'node:net'
import { Writable } from 'node:stream'
import { buildApp } from '../src/app'
import { build, listen, testConfig } from './helper'

t.test('/health names no internal host: coarse states only, the reason in the log', async (t) => {
  // A Redis nobody listens on: the broker is unavailable (the start waits for it up to 5 s).
  const app = await build(t, { redisUrl: 'redis://10.255.255.1.invalid:6379' })
  const res = await app.inject({ url: '/health' })
  t.equal(res.statusCode, 503)
  t.same(res.json(), { status: 'unavailable', store: 'ok', broker: 'unavailable' })
  t.notMatch(res.body, /invalid|6379|ENOTFOUND|redis/i)
})

t.test('METRICS_TOKEN: /metrics needs it as a bearer token; without the setting it stays public', async (t) => {
  const open = await build(t)
  t.equal((await open.inject({ url: '/metrics' })).statusCode, 200)
  const app = await build(t, { metricsToken: 'scrape-secret-1234' })
  const none = await app.inject({ url: '/metrics' })
  t.equal(none.statusCode, 401)
  t.match(none.json(), { code: 'unauthorized' })
  t.equal((await app.inject({ url: '/metrics', headers: { authorization: 'Bearer wrong' } })).statusCode, 401)
  const ok = await app.inject({ url: '/metrics', headers: { authorization: 'Bearer scrape-secret-1234' } })
  t.equal(ok.statusCode, 200)
  t.match(ok.body, /parley_ws_connections/)
})

t.test('a token in a URL never reaches the request log, however its name is spelled, in any app buildApp makes', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(chunk.toString()); cb() } })
  const app = await buildApp(testConfig(), { logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  for (const query of ['token=SECRET-1', '%74oken=SECRET-2', 'TOKEN=SECRET-3', 'limit=5&token=SECRET-4&token=SECRET-5']) {
    await app.inject({ url: `/rooms/r/messages?${query}` })
  }
  const log = lines.join('')
  t.notMatch(log, /SECRET-/, 'no token value logged')
  t.match(log, /token=redacted/i, 'the request lines are there, redacted')
  t.match(log, /limit=5/, 'the rest of the query is kept')
})

t.test('TRUST_PROXY as a hop count: the address the proxy saw, not one the client wrote', async (t) => {
  // Fastify 5.12.1+ reads a numeric trustProxy as "trust nothing": without Parley's own
  // hop rule every client behind Railway's edge had the edge's address.
  const withIp = async (overrides: Parameters<typeof testConfig>[0]) => {
    const app = await buildApp(testConfig(overrides), { logger: false })
    t.teardown(() => app.close())
    app.get('/ip', async (request) => request.ip)
    return app
  }
  const app = await withIp({ trustProxy: 1 })
  const ip = async (xff: string) => (await app.inject({ url: '/ip', headers: { 'x-forwarded-for': xff } })).body
  t.equal(await ip('203.0.113.7'), '203.0.113.7', 'the entry the proxy added')
  t.equal(await ip('198.51.100.1, 203.0.113.7'), '203.0.113.7', 'an entry the client prepended is not believed')
  t.equal((await app.inject({ url: '/ip' })).body, '127.0.0.1', 'no header: the peer')
  const two = await withIp({ trustProxy: 2 })
  t.equal((await two.inject({ url: '/ip', headers: { 'x-forwarded-for': '198.51.100.1, 203.0.113.7, 10.0.0.2' } })).body, '203.0.113.7', 'two hops')

  // The REST limit follows that address: one client is limited, another is not.
  const limited = await build(t, { trustProxy: 1, rateLimitMax: 2 })
  const get = (xff: string) => limited.inject({ url: '/rooms/r/messages', headers: { 'x-forwarded-for': xff } })
  for (let i = 0; i < 2; i++) t.equal((await get('203.0.113.7')).statusCode, 200)
  t.equal((await get('198.51.100.9, 203.0.113.7')).statusCode, 429, 'a forged entry does not reset the limit')
  t.equal((await get('203.0.113.8')).statusCode, 200, 'another client has its own limit')
})

t.test('a client that trickles its request body is cut with a 408 after REQUEST_TIMEOUT_MS', async (t) => {
  const { base } = await listen(t, { requestTimeoutMs: 1000 })
  const { port } = new URL(base)
  const socket = connectTcp(Number(port), '127.0.0.1')
  t.teardown(() => socket.destroy())
  await once(socket, 'connect')
  socket.write('POST /rooms/r/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n')
  const started = Date.now()
  // A byte every 100 ms: never idle, never done.
  const drip = setInterval(() => socket.write(' '), 100)
  t.teardown(() => clearInterval(drip))
  let answer = ''
  socket.on('data', (chunk) => { answer += chunk.toString() })
  await once(socket, 'close')
  const elapsed = Date.now() - started
  t.match(answer, /^HTTP\/1\.1 408/, 'a 408')
  t.ok(elapsed >= 900 && elapsed < 5000, `cut after ${elapsed} ms`)
})
