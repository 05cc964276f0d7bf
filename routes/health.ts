// GET / (liveness) and GET /health (readiness: store and broker).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { HealthSchema } from '../src/schemas/http'
import { version } from '../package.json'

const Check = Type.Union([Type.Literal('ok'), Type.String()])
const ReadinessSchema = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  store: Check,
  broker: Check
})

const CHECK_TIMEOUT_MS = 2000

async function check (probe: () => Promise<void>): Promise<string> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS)
  })
  try {
    await Promise.race([probe(), timeout])
    return 'ok'
  } catch (err) {
    return (err as Error).message
  } finally {
    clearTimeout(timer)
  }
}

const health: FastifyPluginAsyncTypebox = async (fastify) => {
  const { store, broker } = fastify

  // Liveness, and what the client checks before it does anything else: a 200.
  fastify.get('/', {
    schema: { tags: ['health'], summary: 'Liveness: 200 while the process serves', response: { 200: HealthSchema } }
  }, async () => ({ status: 'ok' as const, service: 'parley', version }))

  // Readiness: 503 while the store or the broker (Redis) cannot be reached.
  fastify.get('/health', {
    schema: {
      tags: ['health'],
      summary: 'Readiness: the store and the broker answer within 2 s',
      response: { 200: ReadinessSchema, 503: ReadinessSchema }
    }
  }, async (request, reply) => {
    const [storeState, brokerState] = await Promise.all([check(() => store.ping()), check(() => broker.ping())])
    const ok = storeState === 'ok' && brokerState === 'ok'
    if (!ok) request.log.warn({ store: storeState, broker: brokerState }, 'not ready')
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', store: storeState, broker: brokerState })
  })
}

export default health
