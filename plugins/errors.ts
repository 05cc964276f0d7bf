// The one error handler and the one error body.
import { STATUS_CODES } from 'node:http'
import fp from 'fastify-plugin'
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import { DefaultErrorFunction, SetErrorFunction, ValueErrorType } from '@sinclair/typebox/errors'
import type { FastifyError } from 'fastify'
import { ChatError } from '../src/chat/errors'

/** The one error body: `{error, message, code}`, for the error handler and for the router's own refusals. */
export function errorBody (statusCode: number, message: string, code?: string) {
  return { error: STATUS_CODES[statusCode] ?? 'Error', message, code }
}

// A schema's own `errorMessage` says what a value must be better than its pattern can
// (the id pattern spells out every format character).
SetErrorFunction((error) => {
  const own = (error.schema as { errorMessage?: unknown }).errorMessage
  return typeof own === 'string' && error.errorType === ValueErrorType.StringPattern ? own : DefaultErrorFunction(error)
})

// TypeBox's checker for REST, as for socket frames and ids: one rule (lengths in
// UTF-16 units, no coercion of bodies) whichever way a value arrives. Query strings
// and params arrive as text and are converted first.
export default fp(async function errorsPlugin (fastify) {
  fastify.setValidatorCompiler(TypeBoxValidatorCompiler)

  // The client's axios sends Content-Type: application/json on every request, also a
  // bodiless POST (logout): an empty body is no body, not a 400. Anything else goes
  // to Fastify's own JSON parser (which refuses __proto__ and constructor keys).
  const json = fastify.getDefaultJsonParser('error', 'error')
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined)
    json(request, body as string, done)
  })

  fastify.setErrorHandler((err: FastifyError | ChatError, request, reply) => {
    const statusCode = err.statusCode ?? 500
    if (statusCode >= 500) {
      request.log.error({ err }, 'request failed')
      return reply.code(statusCode).send(errorBody(statusCode, 'something went wrong; try again'))
    }
    request.log.info({ code: err.code, statusCode }, err.message)
    return reply.code(statusCode).send(errorBody(statusCode, err.message, err.code))
  })

  fastify.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody(404, `${request.method} ${request.url.split('?')[0]} does not exist`))
  })
}, { name: 'errors' })
