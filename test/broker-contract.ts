import type { Test } from 'tap'
import type { Broker, Envelope } from '../src/fanout/broker'

/**
 * Records what a listener receives. A broker may deliver asynchronously (Redis), so
 * tests wait for a witness envelope instead of sleeping: a broker delivers a room's
 * envelopes in publish order, so anything misrouted before the witness is already in.
 */
function recorder () {
  const got: Envelope[] = []
  const waiters: Array<{ count: number, resolve: () => void }> = []
  const listener = (envelope: Envelope) => {
    got.push(envelope)
    for (const waiter of waiters.filter((w) => got.length >= w.count)) {
      waiters.splice(waiters.indexOf(waiter), 1)
      waiter.resolve()
    }
  }
  return {
    listener,
    got,
    data: () => got.map((envelope) => envelope.data),
    /** Resolves once `count` envelopes have arrived; rejects if they never do. */
    until (count: number, ms = 2000): Promise<void> {
      if (got.length >= count) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`expected ${count} envelopes, got ${JSON.stringify(got)}`)), ms)
        waiters.push({ count, resolve: () => { clearTimeout(timer); resolve() } })
      })
    }
  }
}

/** The behaviour every Broker must have. Each subtest gets a fresh broker, closed when it ends. */
export function brokerContract (t: Test, name: string, makeBroker: () => Promise<Broker>): Promise<unknown> {
  return t.test(`${name} broker contract`, async (t) => {
    async function fresh (t: Test): Promise<Broker> {
      const broker = await makeBroker()
      t.teardown(() => broker.close())
      return broker
    }

    t.test('publish reaches every subscriber of the room', async (t) => {
      const broker = await fresh(t)
      const a = recorder()
      const b = recorder()
      await broker.subscribe('room-1', a.listener)
      await broker.subscribe('room-1', b.listener)
      await broker.publish('room-1', { data: '{"n":1}' })
      await Promise.all([a.until(1), b.until(1)])
      t.same(a.data(), ['{"n":1}'])
      t.same(b.data(), ['{"n":1}'])
    })

    t.test('publish reaches no subscriber of another room', async (t) => {
      const broker = await fresh(t)
      const one = recorder()
      const two = recorder()
      await broker.subscribe('room-1', one.listener)
      await broker.subscribe('room-2', two.listener)
      await broker.publish('room-1', { data: 'for room 1' })
      await broker.publish('room-2', { data: 'for room 2' })
      await broker.publish('room-1', { data: 'witness 1' })
      await broker.publish('room-2', { data: 'witness 2' })
      await Promise.all([one.until(2), two.until(2)])
      t.same(one.data(), ['for room 1', 'witness 1'])
      t.same(two.data(), ['for room 2', 'witness 2'])
    })

    t.test('publishing to a room nobody subscribed to resolves', async (t) => {
      const broker = await fresh(t)
      await t.resolves(broker.publish('empty-room', { data: 'into the void' }))
    })

    t.test('envelopes arrive in publish order', async (t) => {
      const broker = await fresh(t)
      const a = recorder()
      await broker.subscribe('room-1', a.listener)
      const sent = Array.from({ length: 10 }, (_, i) => `m${i}`)
      for (const data of sent) await broker.publish('room-1', { data })
      await a.until(sent.length)
      t.same(a.data(), sent)
    })

    t.test('data arrives unchanged', async (t) => {
      const broker = await fresh(t)
      const a = recorder()
      await broker.subscribe('room-1', a.listener)
      const data = JSON.stringify({ type: 'message', content: 'héllo 🎉 "quoted" \\ \n', avatar: null })
      await broker.publish('room-1', { data })
      await a.until(1)
      t.same(a.data(), [data])
    })

    t.test('unsubscribe stops delivery to that listener only', async (t) => {
      const broker = await fresh(t)
      const gone = recorder()
      const stays = recorder()
      await broker.subscribe('room-1', gone.listener)
      await broker.subscribe('room-1', stays.listener)
      await broker.publish('room-1', { data: 'before' })
      await Promise.all([gone.until(1), stays.until(1)])
      await broker.unsubscribe('room-1', gone.listener)
      await broker.publish('room-1', { data: 'after' })
      await stays.until(2)
      t.same(gone.data(), ['before'])
      t.same(stays.data(), ['before', 'after'])
    })

    t.test('the last unsubscribe leaves the room silent, and it can be joined again', async (t) => {
      const broker = await fresh(t)
      const first = recorder()
      const witness = recorder()
      await broker.subscribe('room-1', first.listener)
      await broker.subscribe('room-2', witness.listener)
      await broker.unsubscribe('room-1', first.listener)
      await broker.publish('room-1', { data: 'nobody hears this' })
      await broker.publish('room-2', { data: 'witness' })
      await witness.until(1)
      t.same(first.data(), [])
      const again = recorder()
      await broker.subscribe('room-1', again.listener)
      await broker.publish('room-1', { data: 'back' })
      await again.until(1)
      t.same(again.data(), ['back'])
      t.same(first.data(), [], 'the unsubscribed listener stays unsubscribed')
    })

    t.test('unsubscribing a listener that was never subscribed is harmless', async (t) => {
      const broker = await fresh(t)
      const a = recorder()
      await t.resolves(broker.unsubscribe('never-subscribed', a.listener))
      await broker.subscribe('room-1', a.listener)
      await t.resolves(broker.unsubscribe('room-1', recorder().listener))
      await broker.publish('room-1', { data: 'still here' })
      await a.until(1)
      t.same(a.data(), ['still here'])
    })

    t.test('except is carried through to the listener', async (t) => {
      const broker = await fresh(t)
      const a = recorder()
      await broker.subscribe('room-1', a.listener)
      await broker.publish('room-1', { data: 'typing', except: 'connection-7' })
      await a.until(1)
      t.same(a.got, [{ data: 'typing', except: 'connection-7' }])
    })

    t.test('an envelope without except arrives without one', async (t) => {
      const broker = await fresh(t)
      const a = recorder()
      await broker.subscribe('room-1', a.listener)
      await broker.publish('room-1', { data: 'message' })
      await a.until(1)
      t.equal(a.got[0].data, 'message')
      t.equal(a.got[0].except, undefined)
    })

    t.test('close resolves', async (t) => {
      const broker = await makeBroker()
      await broker.subscribe('room-1', recorder().listener)
      await t.resolves(broker.close())
    })
  })
}
