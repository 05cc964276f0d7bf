// The Redis broker: pub/sub between instances, local fan-out through the in-process broker.
import { randomUUID } from 'node:crypto'
import type Redis from 'ioredis'
import { closeRedis, whenReady } from '../redis'
import { createInProcessBroker, type Broker, type Envelope } from './broker'

export interface RedisBrokerOptions {
  /**
   * The instance's command connection (src/redis.ts), which publishes: no offline queue,
   * a publish while Redis is away fails at once. The broker's subscriber is a copy of it.
   */
  commands: Redis
  /** Channel names are `${prefix}:room:${roomId}`; several deployments can share one Redis. */
  prefix?: string
  log: { warn (obj: object, msg: string): void, info (obj: object, msg: string): void }
}

// An envelope on the wire: "<seq or k<key>>\n<except>\n<data>", cheaper than JSON inside
// JSON. A key (direct messages, which have no seq) rides in the seq's place, marked
// with "k": room envelopes are unchanged, so instances of the previous version
// (which subscribe to no DM channel) read what they get as before. Presence that the
// receiving registries may coalesce has "~" before its except: an instance of the
// previous version reads "~<id>" as an id none of its sockets has (the one it names is
// the publisher's own), so it delivers the frame as it always did. The publishing
// instance's id follows, as "^<instance>^" (a connection id is a UUID, never "^"): the
// publisher has delivered the envelope already and drops its echo, and a previous
// version reads the mark as part of an except that none of its sockets has, as above.
function encode ({ data, except, seq, key, coalesce }: Envelope, origin: string): string {
  return `${seq ?? (key === undefined ? '' : `k${key}`)}\n${coalesce === true ? '~' : ''}^${origin}^${except ?? ''}\n${data}`
}

/** The envelope, or undefined for one `self` published (its sockets had it already). */
function decode (text: string, self: string): Envelope | undefined {
  const a = text.indexOf('\n')
  const b = text.indexOf('\n', a + 1)
  let from = a + 1
  const coalesce = text.charCodeAt(from) === 0x7e
  if (coalesce) from++
  if (text.charCodeAt(from) === 0x5e) {
    const end = text.indexOf('^', from + 1)
    if (end > from && end < b) {
      if (end - from - 1 === self.length && text.startsWith(self, from + 1)) return undefined
      from = end + 1
    }
  }
  const envelope: Envelope = { data: text.slice(b + 1) }
  if (a > 0) {
    if (text.charCodeAt(0) === 0x6b) envelope.key = text.slice(1, a)
    else envelope.seq = Number(text.slice(0, a))
  }
  if (coalesce) envelope.coalesce = true
  if (b > from) envelope.except = text.slice(from, b)
  return envelope
}

// Publishes sent to Redis and not yet answered, at most.
const MAX_UNSENT = 10_000

/**
 * Fan-out across instances over Redis pub/sub. The publisher delivers to its own
 * sockets at once, as the in-process broker does, and every other instance
 * delivers what arrives on the room's channel to its sockets; the publisher drops
 * its own echo. While Redis is away a publish reaches this instance's sockets
 * only; the other instances read what they missed from the store when the next
 * seq shows them the gap (see room-sequencer.ts).
 */
export function createRedisBroker (opts: RedisBrokerOptions): Broker & { readonly status: string, ready (ms: number): Promise<boolean> } {
  const prefix = `${opts.prefix ?? 'parley'}:room:`
  const pub = opts.commands
  // The same server and reconnection; a subscribe made while it (re)connects waits for it
  // (ioredis re-subscribes after a reconnect), and nothing but subscriptions goes on it.
  const sub = pub.duplicate({
    connectionName: `${opts.prefix ?? 'parley'}:subscriber`,
    lazyConnect: true,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 20,
    enableAutoPipelining: false
  })
  // This instance's listeners: the in-process broker, fed by the Redis channels.
  const local = createInProcessBroker()
  // This instance on the wire: what it published comes back from Redis, and is dropped.
  const origin = randomUUID()
  let unsent = 0
  let behind = false
  let down = false

  for (const [name, client] of [['commands', pub], ['subscriber', sub]] as const) {
    client.on('error', (err) => {
      if (!down) opts.log.warn({ err: err.message, connection: name }, 'redis connection lost; retrying')
      down = true
    })
    client.on('ready', () => {
      if (down) opts.log.info({ connection: name }, 'redis connection restored')
      down = false
    })
  }

  sub.on('message', (channel: string, text: string) => {
    if (!channel.startsWith(prefix)) return
    const envelope = decode(text, origin)
    if (envelope !== undefined) void local.publish(channel.slice(prefix.length), envelope)
  })

  const connected = Promise.all([whenReady(pub), sub.connect()])
  // A first connection that fails is retried by ioredis; ping reports it meanwhile.
  connected.catch(() => {})

  return {
    /** Waits up to `ms` for both connections; false if Redis is not there yet (it keeps retrying). */
    async ready (ms) {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms) })
      const up = connected.then(() => true, () => false)
      const result = await Promise.race([up, timeout])
      clearTimeout(timer)
      return result
    },
    get status () {
      return pub.status === 'ready' && sub.status === 'ready' ? 'ready' : `commands ${pub.status}, subscriber ${sub.status}`
    },
    async publish (roomId, envelope) {
      // Here first: this instance's sockets do not wait for the round trip through Redis.
      await local.publish(roomId, envelope)
      // Nor does the sender's answer: a publish sent as Redis goes down waits for the
      // reconnect, and the frames behind it with it. Other instances read what Redis
      // loses from the store (room-sequencer.ts). Bounded: past MAX_UNSENT waiting, the
      // publish is dropped the same way.
      if (unsent >= MAX_UNSENT) {
        if (!behind) opts.log.warn({ unsent }, 'redis is not keeping up; publishes delivered on this instance only until it does')
        behind = true
        return
      }
      unsent++
      pub.publish(prefix + roomId, encode(envelope, origin)).catch((err: Error) => {
        // A lost connection is logged once, when it goes: not again for every message.
        if (!down) opts.log.warn({ err: err.message, roomId }, 'redis publish failed; delivered on this instance only')
      }).finally(() => {
        if (--unsent === 0) behind = false
      })
    },
    async subscribe (roomId, listener) {
      const first = local.listenerCount(roomId) === 0
      await local.subscribe(roomId, listener)
      // ioredis re-subscribes by itself after a reconnect.
      if (first) await sub.subscribe(prefix + roomId)
    },
    async unsubscribe (roomId, listener) {
      await local.unsubscribe(roomId, listener)
      if (local.listenerCount(roomId) === 0) await sub.unsubscribe(prefix + roomId).catch(() => {})
    },
    async ping () {
      await connected.catch(() => {})
      if (pub.status !== 'ready' || sub.status !== 'ready') throw new Error(`redis is not ready (${this.status})`)
      await pub.ping()
    },
    async close () {
      await local.close()
      // The command connection is the instance's, closed after its other users.
      await closeRedis(sub)
    }
  }
}
