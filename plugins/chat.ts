// Decorates chat: what the one message path needs (store, broker, limits, metrics), for REST and sockets alike.
import fp from 'fastify-plugin'
import type { ChatDeps } from '../src/chat/messages'

declare module 'fastify' {
  interface FastifyInstance {
    chat: ChatDeps
  }
}

export default fp(async function chatPlugin (fastify) {
  const { store, broker, config, metrics } = fastify
  fastify.decorate('chat', { store, broker, maxContentLength: config.maxContentLength, metrics })
}, { name: 'chat', dependencies: ['config', 'store', 'broker', 'metrics'] })
