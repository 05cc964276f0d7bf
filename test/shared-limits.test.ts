import t from 'tap'
import { randomBytes } from 'node:crypto'
import { spawn, spawnSync } from 'node:child_process'
import { createLocalBuckets } from '../src/access/buckets'
import { createRedisLimits } from '../src/access/redis-limits'
import { closeRedis, createRedisCommands } from '../src/redis'
import { listen, until } from './helper'
import { freePort } from './child-server'

const redisUrl = process.env.TEST_REDIS_URL
const quiet = { warn () {}, info () {} }

t.test('local buckets: a burst, then one token per refill, each key its own, bounded in keys', async (t) => {
  const buckets = createLocalBuckets({ burst: 2, windowMs: 2000 })
  t.same([await buckets.take('a'), await buckets.take('a'), await buckets.take('a')], [true, true, false])
  t.equal(await buckets.has('a'), false)
  t.equal(await buckets.take('b'), true, 'another key has its own bucket')
  // Bounded: a flood of keys forgets the oldest, whose bucket is full again.
  const small = createLocalBuckets({ burst: 1, windowMs: 1_000_000 }, 2)
  t.equal(await small.take('x'), true)
  t.equal(await small.take('x'), false)
  await small.take('y')
  await small.take('z')
  t.equal(await small.take('x'), true, 'x was forgotten past two keys')
})

if (!redisUrl) {
  t.comment('TEST_REDIS_URL is not set: skipping the shared-limit suite')
  t.test('limits shared through Redis', { skip: 'TEST_REDIS_URL is not set' }, async () => {})
} else {
  sharedLimits(redisUrl)
}

function sharedLimits (redisUrl: string): void {
  /** Settings for instances of one deployment: one Redis prefix of their own, SQLite each. */
  const deployment = (limits: object) => ({ redisUrl, redisPrefix: `test-limits-${randomBytes(6).toString('hex')}`, ...limits })
  const json = (body: object) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

  t.test('Redis buckets: the same burst and refill as local ones, across connections, from Redis\'s clock', async (t) => {
    const prefix = `test-limits-${randomBytes(6).toString('hex')}`
    const one = createRedisLimits({ redis: createRedisCommands(redisUrl), prefix, log: quiet })
    const two = createRedisLimits({ redis: createRedisCommands(redisUrl), prefix, log: quiet })
    t.teardown(() => Promise.all([closeRedis(one.redis), closeRedis(two.redis)]))
    await until(() => one.redis.status === 'ready' && two.redis.status === 'ready', 5000)
    t.same([one.redis.status, two.redis.status], ['ready', 'ready'])
    const a = one.buckets('family', { burst: 3, windowMs: 150 })
    const b = two.buckets('family', { burst: 3, windowMs: 150 })
    t.equal(await a.has('k'), true, 'a fresh key has its burst')
    t.same([await a.take('k'), await b.take('k'), await a.take('k')], [true, true, true], 'three takes from either connection')
    t.equal(await b.take('k'), false, 'the fourth finds the bucket empty')
    t.equal(await a.has('k'), false)
    await until(async () => await a.has('k'), 2000)
    t.equal(await b.take('k'), true, 'refilled at the rate (20 a second)')
    const other = one.buckets('other', { burst: 3, windowMs: 150 })
    t.equal(await other.take('k'), true, 'another family is another bucket')
    // A full bucket is no key: an idle address costs Redis nothing.
    const fresh = one.buckets('idle', { burst: 1, windowMs: 1 })
    await fresh.take('k')
    await until(async () => (await one.redis.exists(`${prefix}:limit:idle:k`)) === 0, 3000)
    t.equal(one.away, false)
  })

  t.test('REST requests are counted for the whole deployment: RATE_LIMIT_MAX over two instances', async (t) => {
    const settings = deployment({ rateLimitMax: 5, rateLimitWindowMs: 60_000 })
    const a = await listen(t, settings)
    const b = await listen(t, settings)
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) statuses.push((await fetch(`${i % 2 ? b.base : a.base}/rooms/r/messages`)).status)
    t.same(statuses, [200, 200, 200, 200, 200, 429], 'five requests in all, whichever instance took them')
    const body = await (await fetch(`${a.base}/rooms/r/messages`)).json()
    t.match(body, { error: 'Too Many Requests', message: /at most 5 requests/ })
    const elsewhere = await listen(t, deployment({ rateLimitMax: 5, rateLimitWindowMs: 60_000 }))
    t.equal((await fetch(`${elsewhere.base}/rooms/r/messages`)).status, 200, 'a deployment with another REDIS_PREFIX counts its own')
  })

  t.test('failed logins are counted for the whole deployment: LOGIN_ATTEMPTS_PER_NAME over two instances', async (t) => {
    const settings = deployment({ loginAttemptsPerName: 3, loginAttemptsPerIp: 1000, rateLimitMax: 1000 })
    const a = await listen(t, settings)
    const b = await listen(t, settings)
    const login = (base: string) => fetch(`${base}/auth/login`, json({ username: 'victim', password: 'wrong password' })).then((res) => res.status)
    t.same([await login(a.base), await login(b.base), await login(a.base)], [403, 403, 403], 'three wrong guesses, on either instance')
    t.equal(await login(b.base), 429, 'the fourth is refused, on the instance that saw one guess')
    t.equal(await login(a.base), 429)
  })

  t.test('new rooms are counted for the whole deployment: NEW_ROOMS_PER_IP over two instances', async (t) => {
    const settings = deployment({ newRoomsPerIp: 2, rateLimitMax: 1000 })
    const a = await listen(t, settings)
    const b = await listen(t, settings)
    const join = (base: string, room: string) => fetch(`${base}/rooms/${room}/join`, json({ user_id: 'u', username: 'U' }))
    t.equal((await join(a.base, 'first')).status, 200)
    t.equal((await join(b.base, 'second')).status, 200)
    const third = await join(a.base, 'third')
    t.equal(third.status, 429, 'a third new room is one too many, on either instance')
    t.match(await third.json(), { error: 'Too Many Requests', code: 'too_many_rooms', message: /at most 2 new rooms/ })
    t.equal((await join(a.base, 'first')).status, 200, 'a room that exists is always usable')
  })

  const canRunRedis = spawnSync('redis-server', ['--version']).status === 0
  t.test('while Redis is away the limits hold per instance; nothing fails or waits for Redis', { skip: canRunRedis ? false : 'redis-server is not installed here' }, async (t) => {
    const port = await freePort()
    const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    t.teardown(() => redis.kill('SIGKILL'))
    await until(() => spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() === 'PONG', 5000)
    const settings = { redisUrl: `redis://127.0.0.1:${port}`, redisPrefix: 'test-limits-away', loginAttemptsPerName: 2, loginAttemptsPerIp: 1000, rateLimitMax: 1000 }
    const a = await listen(t, settings)
    const b = await listen(t, settings)
    redis.kill('SIGKILL')
    await new Promise((resolve) => redis.once('exit', resolve))
    const login = (base: string) => fetch(`${base}/auth/login`, json({ username: 'victim', password: 'wrong' })).then((res) => res.status)
    t.same([await login(a.base), await login(a.base), await login(a.base)], [403, 403, 429], 'A counts its own guesses')
    t.same([await login(b.base), await login(b.base), await login(b.base)], [403, 403, 429], 'and B its own')
    t.equal((await fetch(`${a.base}/rooms/r/messages`)).status, 200, 'REST requests are answered, counted locally')
    t.equal(a.app.limits.shared?.away, true, 'the instance knows its limits are local')
  })
}
