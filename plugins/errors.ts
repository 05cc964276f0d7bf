import { STATUS_CODES } from 'node:http'
import fp from 'fastify-plugin'
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import type { FastifyError } from 'fastify'
import { ChatError } from '../src/chat'

// TypeBox's checker for REST, as for socket frames and ids: one rule (lengths in
// UTF-16 units, no coercion of bodies) whichever way a value arrives. Query strings
// and params arrive as text and are converted first.
export default fp(async function errorsPlugin (fastify) {
  fastify.setValidatorCompiler(TypeBoxValidatorCompiler)

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
