// Every private internal of ws and @fastify/websocket Parley relies on, in one place.
// Each was measured and is worth its bytes; test/ws-internals.test.ts fails loudly
// when a new version of either library moves one.
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
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
const PONG: FrameOptions = { ...TEXT, opcode: 0xA }

/**
 * A whole WebSocket text frame (RFC 6455), header and payload, as ws would send it.
 * Server frames are never masked, so a broadcast's frame is the same bytes for
 * every socket: framed once per message instead of once per socket.
 */
export function textFrame (text: string): Buffer {
  return Buffer.concat(Sender.frame(Buffer.from(text), TEXT))
}

/** Several whole text frames in one buffer (the bytes of textFrame for each, in order), encoded in place. */
export function textFrames (texts: string[]): Buffer {
  const lengths = texts.map((text) => Buffer.byteLength(text))
  const header = (n: number) => (n < 126 ? 2 : n < 65_536 ? 4 : 10)
  const out = Buffer.allocUnsafe(lengths.reduce((sum, n) => sum + header(n) + n, 0))
  let at = 0
  texts.forEach((text, i) => {
    const n = lengths[i]
    out[at] = 0x81
    if (n < 126) {
      out[at + 1] = n
    } else if (n < 65_536) {
      out[at + 1] = 126
      out.writeUInt16BE(n, at + 2)
    } else {
      out[at + 1] = 127
      out.writeUInt32BE(Math.floor(n / 2 ** 32), at + 2)
      out.writeUInt32BE(n >>> 0, at + 6)
    }
    at += header(n)
    at += out.write(text, at)
  })
  return out
}

/** A whole pong frame answering a ping's payload (at most 125 bytes, so never split). */
export function pongFrame (payload: Buffer): Buffer {
  return Buffer.concat(Sender.frame(payload, PONG))
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

/**
 * @fastify/websocket assigns a ServerResponse to the upgraded TCP socket and never
 * detaches it: for a socket's whole life it would keep the request and response
 * objects alive (~2.5 KB of heap per idle socket). Nothing writes to it after 101.
 * Returns whether there was one to detach.
 */
export function detachUpgradeResponse (upgraded: Socket | undefined): boolean {
  const socket = upgraded as (Socket & { _httpMessage?: ServerResponse | null }) | undefined
  if (!socket?._httpMessage) return false
  socket._httpMessage.detachSocket(socket)
  return true
}

/**
 * @fastify/websocket's error listener closes over the Fastify request and reply,
 * keeping them alive as long as the socket: this one does its job without them.
 */
export function replaceErrorListener (socket: ws.WebSocket, listener: (err: NodeJS.ErrnoException) => void): void {
  socket.removeAllListeners('error')
  socket.on('error', listener)
}

/**
 * The one socket-error rule: a peer's protocol error (oversized frame, bad framing)
 * is the peer's fault, and ws has already sent the close code (1009, 1002…), so it
 * is logged at info; anything else is ours, at error. Either way the socket goes.
 */
export function onSocketError (log: { info (obj: object, msg: string): void, error (obj: object, msg: string): void }, socket: ws.WebSocket, err: NodeJS.ErrnoException): void {
  if (err.code?.startsWith('WS_ERR_')) log.info({ code: err.code }, `websocket protocol error: ${err.message}`)
  else log.error({ err }, 'websocket error')
  socket.terminate()
}
