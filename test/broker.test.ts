import t from 'tap'
import { randomUUID } from 'node:crypto'
import net from 'node:net'
import Redis from 'ioredis'
import { createInProcessBroker, type Envelope } from '../src/fanout/broker'
import { createRedisBroker, type RedisBrokerOptions } from '../src/fanout/redis-broker'
import { closeRedis, createRedisCommands } from '../src/redis'
import { brokerContract } from './broker-contract'
import { until } from './helper'

const quiet = { warn () {}, info () {} }

/** A Redis broker as an instance has it: its subscriber, and the instance's command connection (closed with it here). */
function redisBroker ({ url, ...opts }: Omit<RedisBrokerOptions, 'commands' | 'log'> & { url: string, log?: RedisBrokerOptions['log'] }) {
  const commands = createRedisCommands(url, opts.prefix)
  const broker = createRedisBroker({ log: quiet, ...opts, commands })
  const close = broker.close.bind(broker)
  return Object.assign(broker, { close: async () => { await close(); await closeRedis(commands) } })
}

brokerContract(t, 'in-process', async () => createInProcessBroker())

const redisUrl = process.env.TEST_REDIS_URL
if (!redisUrl) {
  t.comment('TEST_REDIS_URL is not set: skipping the Redis broker suite')
} else {
  // A fresh prefix per broker: tests never hear each other's rooms.
  brokerContract(t, 'redis', async () => redisBroker({ url: redisUrl, prefix: `test-${randomUUID()}` }))

  /** Two brokers on one prefix (instances A and B): what B hears of the envelopes A publishes. */
  async function acrossInstances (t: { teardown (fn: () => unknown): void }, envelopes: Envelope[], url = redisUrl as string): Promise<Envelope[]> {
    const prefix = `test-${randomUUID()}`
    const a = redisBroker({ url, prefix })
    const b = redisBroker({ url, prefix })
    t.teardown(() => Promise.all([a.close(), b.close()]))
    const got: Envelope[] = []
    await b.subscribe('room', (envelope) => got.push(envelope))
    await a.ping()
    for (const envelope of envelopes) await a.publish('room', envelope)
    await until(() => got.length >= envelopes.length).catch(() => {})
    return got
  }

  t.test('two redis brokers with one prefix are two instances: each hears the other', async (t) => {
    const got = await acrossInstances(t, [{ data: 'line one\nline two', seq: 7, except: 'conn-1' }, { data: '{"x":1}' }])
    t.same(got.map((envelope) => `${envelope.seq}:${envelope.except}:${envelope.data}`), ['7:conn-1:line one\nline two', 'undefined:undefined:{"x":1}'])
  })

  t.test('the coalesce mark crosses Redis: the other instance batches a join storm too', async (t) => {
    const got = await acrossInstances(t, [
      { data: '{"type":"user_joined"}', except: 'conn-2', coalesce: true },
      { data: '{"type":"user_left"}', coalesce: true },
      { data: '~not a mark', except: 'conn-3' }
    ])
    t.same(got, [
      { data: '{"type":"user_joined"}', except: 'conn-2', coalesce: true },
      { data: '{"type":"user_left"}', coalesce: true },
      { data: '~not a mark', except: 'conn-3' }
    ])
  })

  t.test('the publisher delivers its own publish at once, and once: its echo from Redis is dropped', async (t) => {
    const prefix = `test-${randomUUID()}`
    const a = redisBroker({ url: redisUrl, prefix })
    const b = redisBroker({ url: redisUrl, prefix })
    t.teardown(() => Promise.all([a.close(), b.close()]))
    const onA: string[] = []
    const onB: string[] = []
    await a.subscribe('room', (envelope) => onA.push(envelope.data))
    await b.subscribe('room', (envelope) => onB.push(envelope.data))
    await Promise.all([a.ping(), b.ping()])
    const published = a.publish('room', { data: 'from a', seq: 1 })
    t.same(onA, ['from a'], 'on the publisher before the round trip through Redis')
    await published
    // Frames without a seq keep no order across instances: b publishes once it has a's.
    await until(() => onB.length === 1).catch(() => {})
    await b.publish('room', { data: 'from b', seq: 2 })
    await until(() => onA.length === 2).catch(() => {})
    // Time for a stray echo to arrive.
    await new Promise((resolve) => setTimeout(resolve, 100))
    t.same(onA, ['from a', 'from b'])
    t.same(onB, ['from a', 'from b'])
  })

  t.test('an instance of the previous version reads the publisher\'s mark as an except none of its sockets has', async (t) => {
    // The previous version's decoding, as it was: "<seq>\n[~]<except>\n<data>".
    const previous = (text: string) => {
      const a = text.indexOf('\n')
      const b = text.indexOf('\n', a + 1)
      let from = a + 1
      if (text.charCodeAt(from) === 0x7e) from++
      return { seq: Number(text.slice(0, a)), except: b > from ? text.slice(from, b) : undefined, data: text.slice(b + 1) }
    }
    const prefix = `test-${randomUUID()}`
    const broker = redisBroker({ url: redisUrl, prefix })
    const raw = new Redis(redisUrl)
    t.teardown(async () => { await broker.close(); raw.disconnect() })
    const texts: string[] = []
    raw.on('message', (_channel: string, text: string) => texts.push(text))
    await raw.subscribe(`${prefix}:room:room`)
    await broker.ping()
    const connection = randomUUID()
    await broker.publish('room', { data: '{"a":1}\nline', seq: 5, except: connection })
    await broker.publish('room', { data: '{"b":2}', seq: 6, coalesce: true })
    await until(() => texts.length === 2).catch(() => {})
    const read = texts.map(previous)
    t.same(read.map(({ seq, data }) => [seq, data]), [[5, '{"a":1}\nline'], [6, '{"b":2}']], 'seq and data as before')
    t.ok(read.every(({ except }) => except !== undefined && except.startsWith('^') && except !== connection), 'an except that is no socket\'s: delivered to all its sockets')
  })

  t.test('a publish does not wait for Redis: one that Redis never answers still resolves, delivered here', async (t) => {
    // A proxy to Redis that stops passing Redis's answers on, as a Redis going away does.
    const target = new URL(redisUrl)
    let frozen = false
    const sockets = new Set<net.Socket>()
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 6379), target.hostname)
      sockets.add(client).add(upstream)
      client.on('data', (chunk) => upstream.write(chunk))
      upstream.on('data', (chunk) => { if (!frozen) client.write(chunk) })
      for (const socket of [client, upstream]) socket.on('error', () => {}).on('close', () => { client.destroy(); upstream.destroy() })
    })
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
    const broker = redisBroker({ url: `redis://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`, prefix: `test-${randomUUID()}` })
    t.teardown(async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => proxy.close(resolve))
      await broker.close()
    })
    const got: string[] = []
    await broker.subscribe('room', (envelope) => got.push(envelope.data))
    await broker.ping()
    frozen = true
    const published = await Promise.race([
      broker.publish('room', { data: 'answered by nobody', seq: 1 }).then(() => true),
      new Promise((resolve) => setTimeout(() => resolve(false), 1000))
    ])
    t.equal(published, true, 'resolved without an answer from Redis')
    t.same(got, ['answered by nobody'])
  })

  t.test('a redis broker that cannot reach Redis fails its ping and still delivers locally', async (t) => {
    const broker = redisBroker({ url: 'redis://127.0.0.1:1', prefix: `test-${randomUUID()}` })
    t.teardown(() => broker.close())
    const got: string[] = []
    // subscribe waits for a connection that will not come: do not await it.
    void broker.subscribe('room', (envelope) => got.push(envelope.data)).catch(() => {})
    await t.rejects(broker.ping())
    await broker.publish('room', { data: 'local only' })
    t.same(got, ['local only'])
  })

  t.test('with Redis away, the lost connection is logged, not every publish', async (t) => {
    const warnings: string[] = []
    const broker = redisBroker({ url: 'redis://127.0.0.1:1', prefix: `test-${randomUUID()}`, log: { warn: (_obj, msg) => warnings.push(msg), info () {} } })
    t.teardown(() => broker.close())
    await t.rejects(broker.ping())
    for (let i = 0; i < 20; i++) await broker.publish('room', { data: `message ${i}` })
    await new Promise((resolve) => setTimeout(resolve, 50))
    t.ok(warnings.includes('redis connection lost; retrying'), 'the connection, once')
    t.equal(warnings.filter((msg) => msg.startsWith('redis publish failed')).length, 0, 'no line per message')
  })
}
