import { STATUS_CODES } from 'node:http'
import fp from 'fastify-plugin'
import Ajv from 'ajv'
import type { FastifyError } from 'fastify'
import { ChatError } from '../src/chat'

// Bodies are checked strictly (a number is not a user_id); query strings and
// params arrive as text and are coerced. `unicode: false` makes maxLength count
// UTF-16 units, as TypeBox's checker does for socket frames and ids: one limit,
// whichever way a value arrives.
const common = { useDefaults: true, removeAdditional: true, allErrors: false, unicode: false } as const
const bodyAjv = new Ajv({ ...common, coerceTypes: false })
const textAjv = new Ajv({ ...common, coerceTypes: true })

export default fp(async function errorsPlugin (fastify) {
  fastify.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? bodyAjv : textAjv).compile(schema)
  )

  fastify.setErrorHandler((err: FastifyError | ChatError, request, reply) => {
    const statusCode = err.statusCode ?? 500
    if (statusCode >= 500) {
      request.log.error({ err }, 'request failed')
      return reply.code(statusCode).send({ error: 'Internal Server Error', message: 'something went wrong; try again' })
    }
    request.log.info({ code: err.code, statusCode }, err.message)
    return reply.code(statusCode).send({
      error: STATUS_CODES[statusCode] ?? 'Error',
      message: err.message,
      code: err.code
    })
  })

  fastify.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'Not Found', message: `${request.method} ${request.url.split('?')[0]} does not exist` })
  })
}, { name: 'errors' })
