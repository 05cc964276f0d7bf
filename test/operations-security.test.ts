import t from 'tap'
import { Writable } from 'node:stream'
import { buildApp } from '../src/app'
import { build, testConfig } from './helper'

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
