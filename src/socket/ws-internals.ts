// Every private internal of ws and @fastify/websocket Parley relies on, in one place.
import type { Writable } from 'node:stream'
import * as ws from 'ws'

interface FrameOptions {
  fin: boolean
  opcode: number
  mask: boolean
  readOnly: boolean
  rsv1: boolean
}

// ws's own frame encoder: public API of ws (lib/sender.js), not declared in @types/ws.
const { Sender } = ws as unknown as { Sender: { frame (data: Buffer, options: FrameOptions): Buffer[] } }
const TEXT: FrameOptions = { fin: true, opcode: 0x1, mask: false, readOnly: false, rsv1: false }

/**
 * A whole WebSocket text frame (RFC 6455), header and payload, as ws would send it.
 * Server frames are never masked, so a broadcast's frame is the same bytes for
 * every socket: framed once per message instead of once per socket.
 */
export function textFrame (text: string): Buffer {
  return Buffer.concat(Sender.frame(Buffer.from(text), TEXT))
}

/**
 * The stream a ws WebSocket speaks over (the upgraded TCP socket, or the duplex of
 * Fastify's injectWS), for frames written past ws's sender. That is safe only while
 * ws writes its own frames synchronously, which it does without an extension: with
 * permessage-deflate a frame being compressed would be overtaken. ws keeps the stream
 * as `_socket`, outside its typed API. Either condition failing fails here, at a
 * socket's registration, not silently later.
 */
export function streamOf (socket: ws.WebSocket): Writable {
  if (socket.extensions !== '') throw new Error(`frames written past ws need a socket without extensions, not "${socket.extensions}"`)
  const stream = (socket as unknown as { _socket?: Writable | null })._socket
  if (stream == null || typeof stream.write !== 'function') throw new Error('ws no longer exposes its socket as _socket')
  return stream
}
