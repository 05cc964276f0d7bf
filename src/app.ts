import Fastify, { type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Config } from './config'
import configPlugin from '../plugins/config'
import errorsPlugin from '../plugins/errors'
import corsPlugin from '../plugins/cors'
import websocketPlugin from '../plugins/websocket'
import rateLimitPlugin from '../plugins/rate-limit'
import storePlugin from '../plugins/store'
import brokerPlugin from '../plugins/broker'
import registryPlugin from '../plugins/registry'
import healthRoutes from '../routes/health'
import roomRoutes from '../routes/rooms'
import messageRoutes from '../routes/messages'
import wsRoutes from '../routes/ws'

/** The whole server as one plugin, registered in this order. */
export const parley = fp<{ config: Config }>(async function parley (fastify, { config }) {
  await fastify.register(configPlugin, { config })
  await fastify.register(errorsPlugin)
  await fastify.register(corsPlugin)
  await fastify.register(rateLimitPlugin)
  await fastify.register(storePlugin)
  await fastify.register(brokerPlugin)
  await fastify.register(registryPlugin)
  await fastify.register(websocketPlugin)
  await fastify.register(healthRoutes)
  await fastify.register(roomRoutes)
  await fastify.register(messageRoutes)
  await fastify.register(wsRoutes)
}, { name: 'parley' })

export async function buildApp (config: Config, opts: FastifyServerOptions = {}) {
  const app = Fastify({
    bodyLimit: config.bodyLimitBytes,
    // Ids are checked against their own 128-character rule, with a clear 400.
    routerOptions: { maxParamLength: 512 },
    // Fastify takes a hop count too; its option type only omits it.
    trustProxy: config.trustProxy as FastifyServerOptions['trustProxy'],
    ...opts
  }).withTypeProvider<TypeBoxTypeProvider>()
  await app.register(parley, { config })
  return app
}
