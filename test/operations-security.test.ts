import t from 'tap'
import { build } from './helper'

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
