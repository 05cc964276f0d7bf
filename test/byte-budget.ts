// What the server queues for one socket, as the byte-budget tests and the fuzz test measure it.
import { once } from 'node:events'
import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'

// One byte budget per socket (MAX_BUFFERED_BYTES) for everything the server queues
// for it: replies, a replay, a DM push, broadcasts and what a hold keeps back.
export const BUDGET = 256 * 1024
// ws writes two control frames itself, past the budget: the close frame of the cut and
// a heartbeat ping, at most 127 bytes each.
export const SLACK = 2 * 127
// Six bytes each in JSON ("\u0001"): a message of 4000 is a frame of ~24 KB.
export const HEAVY = '\u0001'.repeat(4000)
/** A small budget, the rate limits out of the way, and a short wait for a drain. */
export const CONFIG = {
  maxBufferedBytes: BUDGET,
  wsDrainTimeoutMs: 500,
  wsMessageRate: 100_000,
  wsMessageBurst: 100_000,
  wsFrameRate: 100_000,
  wsFrameBurst: 100_000,
  rateLimitMax: 100_000_000
}

/**
 * The most the server held for any watched socket, sampled at every write it made to
 * one: what its TCP stream had not sent yet, and (queuedBytes) what a hold kept back.
 */
export function watchQueues (app: FastifyInstance, channels: string[]) {
  let max = 0
  const sample = (raw: { writableLength: number }) => {
    max = Math.max(max, raw.writableLength)
    for (const channel of channels) {
      for (const c of app.registry.connections(channel)) max = Math.max(max, (c as { queuedBytes?: () => number }).queuedBytes?.() ?? 0)
    }
  }
  app.websocketServer.on('connection', (socket: WebSocket) => {
    const raw = (socket as any)._socket
    const write = raw.write
    raw.write = function (...args: unknown[]) {
      const written = write.apply(this, args)
      sample(raw)
      return written
    }
  })
  return {
    get max () { return max },
    reset () { max = 0 }
  }
}

/** A client that takes nothing off its TCP socket once open; `resume()` reads again. */
export async function stalled (t: { teardown (fn: () => unknown): void }, url: string) {
  const socket = new WebSocket(url)
  t.teardown(() => socket.terminate())
  socket.on('error', () => {})
  const frames: any[] = []
  socket.on('message', (data) => frames.push(JSON.parse(data.toString())))
  const closed = new Promise<{ code: number, reason: string }>((resolve) => {
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
  })
  await once(socket, 'open')
  const tcp = (socket as any)._socket
  tcp.pause()
  return {
    socket,
    frames,
    resume: () => tcp.resume(),
    closed: () => Promise.race([closed, new Promise<string>((resolve) => setTimeout(resolve, 5000, 'not closed within 5 s'))])
  }
}
