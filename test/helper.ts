import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import WebSocket from 'ws'
import { buildApp } from '../src/app'
import { loadConfig, type Config } from '../src/config'

type Test = { teardown (fn: () => unknown): void }

/** A config as the environment would give it, with an in-memory store. */
export function testConfig (overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({ DATABASE_URL: ':memory:', LOG_LEVEL: 'silent' }), ...overrides }
}

/** A fresh app from the real plugin, closed when the test ends. */
export async function build (t: Test, overrides: Partial<Config> = {}) {
  const app = await buildApp(testConfig(overrides), { logger: false })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

/** A fresh app listening on a loopback port, for real sockets. */
export async function listen (t: Test, overrides: Partial<Config> = {}) {
  const app = await build(t, overrides)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return { app, base: `http://127.0.0.1:${port}`, wsBase: `ws://127.0.0.1:${port}` }
}

/** A ws client that records every frame it receives; terminated when the test ends. */
export async function connect (t: Test, url: string, opts: WebSocket.ClientOptions = {}) {
  const socket = new WebSocket(url, opts)
  t.teardown(() => socket.terminate())
  const client = new FrameQueue(socket)
  await once(socket, 'open')
  return client
}

export class FrameQueue {
  readonly frames: any[] = []
  /** Frames that arrived as binary: a browser would get a Blob, so there must be none. */
  binaryFrames = 0
  private waiters: Array<{ test: (f: any) => boolean, resolve: (f: any) => void }> = []
  closed: Promise<{ code: number, reason: string }>

  constructor (readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      if (isBinary) this.binaryFrames++
      const frame = JSON.parse(data.toString())
      this.frames.push(frame)
      // One waiter takes one frame: the first that matches.
      const waiter = this.waiters.find((w) => w.test(frame))
      if (waiter) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1)
        waiter.resolve(frame)
      }
    })
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
    })
  }

  send (frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /** The first received frame (past or future) that matches, or a rejection after `ms`. */
  next (test: (f: any) => boolean = () => true, ms = 2000): Promise<any> {
    const seen = this.frames.find(test)
    if (seen) {
      this.frames.splice(this.frames.indexOf(seen), 1)
      return Promise.resolve(seen)
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${ms} ms; got ${JSON.stringify(this.frames)}`)), ms)
      this.waiters.push({
        test,
        resolve: (f) => {
          clearTimeout(timer)
          this.frames.splice(this.frames.indexOf(f), 1)
          resolve(f)
        }
      })
    })
  }

  ofType (type: string, ms?: number): Promise<any> {
    return this.next((f) => f.type === type, ms)
  }

  /** Resolves after a keep_alive round trip: every frame sent before it has been handled. */
  async settle (): Promise<void> {
    this.send({ type: 'keep_alive' })
    await this.ofType('ping')
  }
}

/** `name{labels} value` lines of a Prometheus text exposition, by series. */
export function parseMetrics (text: string): Map<string, number> {
  const series = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    series.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return series
}

/** Resolves when `condition` holds, polling; rejects after `ms`. For state that settles after a close. */
export async function until (condition: () => boolean | Promise<boolean>, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
