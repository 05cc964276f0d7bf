import t from 'tap'
import { randomUUID } from 'node:crypto'
import { createInProcessBroker, type Envelope } from '../src/fanout/broker'
import { createRedisBroker } from '../src/fanout/redis-broker'
import { brokerContract } from './broker-contract'

const quiet = { warn () {}, info () {} }

brokerContract(t, 'in-process', async () => createInProcessBroker())

const redisUrl = process.env.TEST_REDIS_URL
if (!redisUrl) {
  t.comment('TEST_REDIS_URL is not set: skipping the Redis broker suite')
} else {
  // A fresh prefix per broker: tests never hear each other's rooms.
  brokerContract(t, 'redis', async () => createRedisBroker({ url: redisUrl, prefix: `test-${randomUUID()}`, log: quiet }))

  /** Two brokers on one prefix (instances A and B): what B hears of the envelopes A publishes. */
  async function acrossInstances (t: { teardown (fn: () => unknown): void }, envelopes: Envelope[], url = redisUrl as string): Promise<Envelope[]> {
    const prefix = `test-${randomUUID()}`
    const a = createRedisBroker({ url, prefix, log: quiet })
    const b = createRedisBroker({ url, prefix, log: quiet })
    t.teardown(() => Promise.all([a.close(), b.close()]))
    const got: Envelope[] = []
    await b.subscribe('room', (envelope) => got.push(envelope))
    await a.ping()
    for (const envelope of envelopes) await a.publish('room', envelope)
    const deadline = Date.now() + 2000
    while (got.length < envelopes.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
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

  t.test('a redis broker that cannot reach Redis fails its ping and still delivers locally', async (t) => {
    const broker = createRedisBroker({ url: 'redis://127.0.0.1:1', prefix: `test-${randomUUID()}`, log: quiet })
    t.teardown(() => broker.close())
    const got: string[] = []
    // subscribe waits for a connection that will not come: do not await it.
    void broker.subscribe('room', (envelope) => got.push(envelope.data)).catch(() => {})
    await t.rejects(broker.ping())
    await broker.publish('room', { data: 'local only' })
    t.same(got, ['local only'])
  })
}
