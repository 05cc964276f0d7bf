// GET / (liveness) and GET /health (readiness: store and broker).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { HealthSchema } from '../src/schemas/http'
import { version } from '../package.json'

// Coarse states only: an error's text can name internal hosts (it goes to the log).
const Check = Type.Union([Type.Literal('ok'), Type.Literal('unavailable'), Type.Literal('timeout')])
type CheckState = 'ok' | 'unavailable' | 'timeout'
const ReadinessSchema = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  store: Check,
  broker: Check
})

const CHECK_TIMEOUT_MS = 2000

class Timeout extends Error {}

async function check (probe: () => Promise<void>, failed: (err: Error) => void): Promise<CheckState> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Timeout(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS)
  })
  try {
    await Promise.race([probe(), timeout])
    return 'ok'
  } catch (err) {
    failed(err as Error)
    return err instanceof Timeout ? 'timeout' : 'unavailable'
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
    const failed = (what: string) => (err: Error) => request.log.warn({ err: err.message }, `not ready: the ${what} does not answer`)
    const [storeState, brokerState] = await Promise.all([check(() => store.ping(), failed('store')), check(() => broker.ping(), failed('broker'))])
    const ok = storeState === 'ok' && brokerState === 'ok'
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', store: storeState, broker: brokerState })
  })
}

export default health
