// GET /docs/websocket.json: the socket protocol from src/schemas/protocol.ts.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { PROTOCOL_URL } from '../src/schemas/openapi'
import { protocolDocument } from '../src/schemas/protocol'
import { version } from '../package.json'

const ProtocolDocumentSchema = Type.Object({
  title: Type.String(),
  version: Type.String(),
  url: Type.String(),
  description: Type.String(),
  path_parameters: Type.Unknown(),
  query: Type.Unknown(),
  client_frames: Type.Unknown(),
  server_frames: Type.Unknown(),
  error_codes: Type.Unknown(),
  close_codes: Type.Unknown()
}, { description: 'Every frame both ways as a JSON Schema, error codes, close codes and query flags' })

// Swagger UI and the OpenAPI document (/docs, /docs/json) come from plugins/swagger.ts.
const docs: FastifyPluginAsyncTypebox = async (fastify) => {
  const document = protocolDocument(version)

  fastify.get(PROTOCOL_URL, {
    schema: {
      tags: ['operations'],
      summary: 'The WebSocket protocol as JSON Schemas',
      response: { 200: ProtocolDocumentSchema }
    }
  }, async () => document)
}

export default docs
