// Decorates presence: local or Redis-backed.
import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import { publishPresence } from '../src/fanout/presence'
import { createLocalPresence, type PresenceTracker } from '../src/fanout/presence-tracker'

declare module 'fastify' {
  interface FastifyInstance {
    presence: PresenceTracker
  }
}

export default fp(async function presencePlugin (fastify) {
  const { config, broker, store, log, redis } = fastify
  // Redis's client is loaded only when it is used: a SQLite-only start stays short.
  const presence: PresenceTracker = redis === null
    ? createLocalPresence()
    : (await import('../src/fanout/redis-presence')).createRedisPresence({
      redis,
      prefix: config.redisPrefix,
      instanceId: randomUUID(),
      ttlMs: config.presenceTtlMs,
      log,
      // A user whose instance died: announced by the instance that swept the entry.
      onExpired: (roomId, userId) => {
        Promise.all([store.getProfile(roomId, userId), presence.online(roomId)])
          .then(([profile, online]) => publishPresence(broker, { type: 'user_left', roomId, userId, profile, onlineCount: online.length, connectionId: '' }))
          .catch((err) => log.warn({ err, roomId, userId }, 'announcing an expired user failed'))
      }
    })
  fastify.decorate('presence', presence)
  fastify.addHook('onClose', async () => presence.close())
}, { name: 'presence', dependencies: ['config', 'redis', 'broker', 'store'] })
