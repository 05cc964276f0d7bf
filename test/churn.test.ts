import t from 'tap'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import WebSocket from 'ws'
import { listen, until } from './helper'

// A gc() for heap figures, whether or not node was started with --expose-gc.
setFlagsFromString('--expose-gc')
const gc: () => void = (global as any).gc ?? runInNewContext('gc')
const heapMB = async () => {
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return process.memoryUsage().heapUsed / 1048576
}

const CYCLES = 3000
const BATCH = 100
const ROOMS = 10
const CHURN_MS = 30_000
const WARMUP = 300

type Variant = 'close' | 'message-then-close' | 'typing-then-close' | 'terminate' | 'message-then-terminate' | 'abort-handshake'
const VARIANTS: Variant[] = ['close', 'message-then-close', 'typing-then-close', 'terminate', 'message-then-terminate', 'abort-handshake']

/** One connect/disconnect cycle; resolves when the client side is closed, whatever happened. */
async function cycle (wsBase: string, i: number, variant: Variant): Promise<void> {
  const socket = new WebSocket(`${wsBase}/ws/churn-${i % ROOMS}/u${i}?username=U${i}`)
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  // Bounded waits whose timers are cleared: 5 s timers left pending would hold every
  // cycle's closures and show up as heap growth of the test's own making.
  const bounded = async (p: Promise<unknown>) => {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([p, new Promise((resolve) => { timer = setTimeout(resolve, 5000) })])
    clearTimeout(timer)
  }
  try {
    if (variant === 'abort-handshake') {
      // Gone while the upgrade is on its way: sometimes before, sometimes after the server's 101.
      setImmediate(() => socket.terminate())
      await bounded(closed)
      return
    }
    await bounded(new Promise((resolve) => { socket.once('open', resolve); socket.once('close', resolve) }))
    if (socket.readyState !== WebSocket.OPEN) return
    switch (variant) {
      case 'close':
        socket.close(1000)
        break
      case 'message-then-close':
        socket.send(JSON.stringify({ content: `bye ${i}` }))
        socket.close(1000)
        break
      case 'typing-then-close':
        socket.send(JSON.stringify({ type: 'typing_start' }))
        socket.close(1001)
        break
      case 'terminate':
        socket.terminate()
        break
      case 'message-then-terminate':
        socket.send(JSON.stringify({ content: `cut ${i}` }))
        socket.terminate()
        break
    }
    await bounded(closed)
  } finally {
    socket.terminate()
  }
}

t.test('thousands of connect/disconnect cycles leave no socket, room or memory behind', async (t) => {
  const { app, wsBase } = await listen(t, {
    maxSocketsPerIp: 100_000,
    maxSocketsPerRoom: 100_000,
    rateLimitMax: 1_000_000
  })
  const counts = Object.fromEntries(VARIANTS.map((v) => [v, 0])) as Record<Variant, number>
  let done = 0
  const run = async (from: number, to: number) => {
    for (let start = from; start < to; start += BATCH) {
      const batch = []
      for (let i = start; i < Math.min(start + BATCH, to); i++) {
        const variant = VARIANTS[i % VARIANTS.length]
        counts[variant]++
        batch.push(cycle(wsBase, i, variant))
      }
      await Promise.all(batch)
      done = Math.min(start + BATCH, to)
    }
  }

  // A warm-up, so that lazily built things (compiled schemas, prepared statements, JIT) are in the baseline.
  await run(0, WARMUP)
  await until(() => app.registry.connectionCount === 0 && app.websocketServer.clients.size === 0, 5000)
  const baseline = await heapMB()

  const started = Date.now()
  let i = WARMUP
  while (i < WARMUP + CYCLES && Date.now() - started < CHURN_MS) {
    await run(i, Math.min(i + 500, WARMUP + CYCLES))
    i = done
  }
  const churnMs = Date.now() - started

  await until(() => app.registry.connectionCount === 0 && app.registry.roomCount === 0 && app.websocketServer.clients.size === 0, 5000)
    .catch(() => {})
  t.equal(app.registry.connectionCount, 0, 'no connection is left in the registry')
  t.equal(app.registry.roomCount, 0, 'no room is left in the registry')
  t.equal(app.websocketServer.clients.size, 0, 'no socket is left in the ws server')

  // A message sent before a clean close is always stored (it arrives before the close frame).
  let stored = 0
  for (let room = 0; room < ROOMS; room++) stored += (await app.store.latest(`churn-${room}`, 100_000)).length
  t.ok(stored >= counts['message-then-close'], `every message sent before a clean close is stored (${stored} stored, ${counts['message-then-close']} sent before close, ${counts['message-then-terminate']} before terminate)`)
  t.ok(stored <= counts['message-then-close'] + counts['message-then-terminate'], 'nothing else is stored')

  const after = await heapMB()
  t.comment(`${done} cycles (${WARMUP} of them warm-up) in batches of ${BATCH}: ${JSON.stringify(counts)}; churn took ${churnMs} ms`)
  t.comment(`heap: baseline ${baseline.toFixed(1)} MB, after ${after.toFixed(1)} MB (${(after - baseline).toFixed(1)} MB)`)
  t.ok(after < baseline + 20, `heap back near the baseline (+${(after - baseline).toFixed(1)} MB, bound 20 MB)`)
})

