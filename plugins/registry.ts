// Decorates registry: the connection registry, fed by the broker.
import fp from 'fastify-plugin'
import { createConnectionRegistry } from '../src/fanout/connection-registry'
import { isDmChannel } from '../src/dm/direct'
import { textFrame } from '../src/socket/ws-internals'

declare module 'fastify' {
  interface FastifyInstance {
    registry: ReturnType<typeof createConnectionRegistry>
  }
}

export default fp(async function registryPlugin (fastify) {
  const { broker, store, metrics, log } = fastify
  fastify.decorate('registry', createConnectionRegistry({
    broker,
    history: store,
    // A user's DM channel carries no seq-ordered messages: nothing to sequence.
    sequenced: (roomId) => !isDmChannel(roomId),
    onError: (err) => log.error({ err }, 'reading missed messages failed'),
    metrics,
    // Every connection in the registry is a WebSocket (src/socket/connection.ts).
    encode: textFrame,
    // Whole frames can share a write: presence and typing go out once per socket per turn.
    coalesce: true
  }))
}, { name: 'registry', dependencies: ['broker', 'store', 'metrics'] })
