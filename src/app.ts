// The whole server as one Fastify plugin, and buildApp(config) that tests and server.ts share.
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Config } from './config'
import { redactUrl } from './access/auth'
import { trustProxyOption } from './access/client-address'
import configPlugin from '../plugins/config'
import redisPlugin from '../plugins/redis'
import errorsPlugin, { errorBody } from '../plugins/errors'
import corsPlugin from '../plugins/cors'
import websocketPlugin from '../plugins/websocket'
import limitsPlugin from '../plugins/limits'
import rateLimitPlugin from '../plugins/rate-limit'
import storePlugin from '../plugins/store'
import brokerPlugin from '../plugins/broker'
import metricsPlugin from '../plugins/metrics'
import registryPlugin from '../plugins/registry'
import chatPlugin from '../plugins/chat'
import accountsPlugin from '../plugins/accounts'
import authPlugin from '../plugins/auth'
import presencePlugin from '../plugins/presence'
import swaggerPlugin from '../plugins/swagger'
import healthRoutes from '../routes/health'
import roomRoutes from '../routes/rooms'
import roomDetailRoutes from '../routes/room-details'
import messageRoutes from '../routes/messages'
import userRoutes from '../routes/users'
import authRoutes from '../routes/auth'
import dmRoutes from '../routes/dm'
import wsRoutes from '../routes/ws'
import docsRoutes from '../routes/docs'
import metricsRoutes from '../routes/metrics'
import demoRoutes from '../routes/demo'

/** The whole server as one plugin, registered in this order. */
export const parley = fp<{ config: Config }>(async function parley (fastify, { config }) {
  await fastify.register(configPlugin, { config })
  await fastify.register(redisPlugin)
  await fastify.register(errorsPlugin)
  await fastify.register(corsPlugin)
  await fastify.register(limitsPlugin)
  await fastify.register(rateLimitPlugin)
  await fastify.register(authPlugin)
  await fastify.register(metricsPlugin)
  await fastify.register(storePlugin)
  await fastify.register(brokerPlugin)
  await fastify.register(registryPlugin)
  await fastify.register(chatPlugin)
  await fastify.register(accountsPlugin)
  await fastify.register(presencePlugin)
  await fastify.register(websocketPlugin)
  await fastify.register(swaggerPlugin)
  await fastify.register(healthRoutes)
  await fastify.register(roomRoutes)
  await fastify.register(roomDetailRoutes)
  await fastify.register(messageRoutes)
  await fastify.register(userRoutes)
  await fastify.register(authRoutes)
  await fastify.register(dmRoutes)
  await fastify.register(wsRoutes)
  await fastify.register(docsRoutes)
  await fastify.register(metricsRoutes)
  await fastify.register(demoRoutes)
}, { name: 'parley' })

/**
 * Errors the router answers before any plugin runs (a malformed percent-encoding,
 * a path parameter past maxParamLength): the same `{error, message}` shape, and for
 * a WebSocket upgrade the socket is closed after the answer (no hook would close it).
 */
function frameworkErrors (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  request.log.info({ code: error.code }, error.message)
  if (request.raw.headers.upgrade !== undefined) {
    reply.header('connection', 'close')
    reply.raw.once('finish', () => reply.raw.socket?.destroy())
  }
  reply.code(error.statusCode ?? 400).send(errorBody(error.statusCode ?? 400, error.message, error.code))
}

export async function buildApp (config: Config, opts: FastifyServerOptions = {}) {
  // A socket's token travels in its URL: every app keeps it out of its request logs.
  const logger = opts.logger === true ? {} : opts.logger
  const app = Fastify({
    frameworkErrors,
    bodyLimit: config.bodyLimitBytes,
    // A client trickling a request is cut with a 408. Node reads these at construction
    // (setting them on the server afterwards, as Fastify's requestTimeout does, is not
    // enforced), and checks every connection each second.
    requestTimeout: config.requestTimeoutMs,
    http: { requestTimeout: config.requestTimeoutMs, headersTimeout: Math.min(config.requestTimeoutMs, 10_000), connectionsCheckingInterval: 1000 },
    // Ids are checked against their own 128-character rule, with a clear 400.
    routerOptions: { maxParamLength: 512 },
    trustProxy: trustProxyOption(config.trustProxy),
    ...opts,
    ...(logger && typeof logger === 'object'
      ? { logger: { ...logger, serializers: { req: (req: FastifyRequest) => ({ method: req.method, url: redactUrl(req.url), remoteAddress: req.ip }), ...logger.serializers } } }
      : {})
  }).withTypeProvider<TypeBoxTypeProvider>()
  await app.register(parley, { config })
  return app
}
