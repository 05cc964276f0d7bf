import t from 'tap'
import { once } from 'node:events'
import { PassThrough } from 'node:stream'
import * as ws from 'ws'
import { streamOf, textFrame } from '../src/socket/ws-internals'

// ws's own parser (public, not in @types/ws) reads what textFrame writes.
const { Receiver } = ws as unknown as { Receiver: new (options: { isServer: boolean }) => NodeJS.WritableStream & NodeJS.EventEmitter }

async function parse (frame: Buffer): Promise<{ text: string, isBinary: boolean }> {
  const receiver = new Receiver({ isServer: false })
  const message = once(receiver, 'message')
  receiver.write(frame)
  const [data, isBinary] = await message
  return { text: (data as Buffer).toString('utf8'), isBinary: isBinary as boolean }
}

t.test('a text frame is read back by ws as the same text, for each length encoding', async (t) => {
  for (const length of [0, 1, 125, 126, 65_535, 65_536, 200_000]) {
    const text = 'é'.repeat(Math.floor(length / 2)) + 'x'.repeat(length % 2)
    const frame = textFrame(text)
    t.equal(frame[0], 0x81, `${length} bytes: FIN and the text opcode`)
    t.equal(frame[1] & 0x80, 0, `${length} bytes: not masked (a server frame)`)
    t.same(await parse(frame), { text, isBinary: false }, `${length} bytes`)
  }
})

t.test('streamOf finds the stream under a ws socket, and says so when there is none', async (t) => {
  const socket = new ws.WebSocket(null as unknown as string, undefined as never, { autoPong: true } as never)
  t.throws(() => streamOf(socket), /no longer exposes its socket/)
  const stream = new PassThrough()
  ;(socket as unknown as { _socket: PassThrough })._socket = stream
  t.equal(streamOf(socket), stream)
  // As ws records a negotiated permessage-deflate.
  ;(socket as unknown as { _extensions: object })._extensions = { 'permessage-deflate': {} }
  t.throws(() => streamOf(socket), /without extensions, not "permessage-deflate"/)
})

t.test('a real upgrade: the response is detached from the socket, and ours is its only error listener', async (t) => {
  const { listen, connect } = await import('./helper')
  const { app, wsBase } = await listen(t)
  const upgraded: Array<{ socket: import('node:net').Socket }> = []
  app.websocketServer.on('connection', (_socket: ws.WebSocket, request: { socket: import('node:net').Socket }) => upgraded.push(request))
  const client = await connect(t, `${wsBase}/ws/internals/u1`)
  await client.settle()
  t.equal(upgraded.length, 1)
  // detachUpgradeResponse ran on it (in plugins/websocket.ts): nothing holds the ServerResponse.
  t.equal((upgraded[0].socket as unknown as { _httpMessage?: unknown })._httpMessage ?? null, null, 'no ServerResponse on the upgraded socket')
  const [server] = app.websocketServer.clients
  t.equal(server.listenerCount('error'), 1, 'one error listener: replaceErrorListener removed the plugin\'s')
})
