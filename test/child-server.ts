import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'

type Test = { teardown (fn: () => unknown): void, comment (...args: unknown[]): void }

const ROOT = join(__dirname, '..')
export const SERVER_JS = join(ROOT, 'dist', 'src', 'server.js')

/** Busy loops on every core, for at most `ms`, in processes of their own. */
export function hog (ms: number): ChildProcess[] {
  return [0, 1].map(() => spawn(process.execPath, ['-e', `const end = Date.now() + ${ms}; while (Date.now() < end) {}`], { stdio: 'ignore' }))
}

/** A loopback port nobody listens on right now (the child binds it a moment later). */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
  /** Date.now() when the process ended. */
  at: number
}

export interface ChildServer {
  proc: ChildProcess
  port: number
  base: string
  wsBase: string
  /** Everything the child wrote so far (stdout and stderr), for failure messages. */
  output (): string
  /** Resolves once, when the process has ended. */
  exited: Promise<Exit>
  /** Sends a signal if the process is still running. */
  kill (signal: NodeJS.Signals): void
}

function newestMtime (dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs)
  }
  return newest
}

/**
 * Spawns `node dist/src/server.js` on a free loopback port with `env` on top of a
 * minimal environment, waits until GET / answers 200, and kills it (SIGKILL) at
 * teardown if it is still running.
 */
export async function startServer (t: Test, env: Record<string, string>, { readyMs = 15_000 } = {}): Promise<ChildServer> {
  if (!existsSync(SERVER_JS)) throw new Error(`${SERVER_JS} is missing: run \`npm run build\` first (npm test does it)`)
  const built = statSync(SERVER_JS).mtimeMs
  const sources = Math.max(...['src', 'plugins', 'routes'].map((dir) => newestMtime(join(ROOT, dir))))
  if (sources > built) t.comment('warning: dist/ is older than the sources; run `npm run build` to test the current code')

  const port = await freePort()
  const proc = spawn(process.execPath, [SERVER_JS], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      ...env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  const collect = (chunk: Buffer) => {
    // Bounded: a chatty child must not grow the test's memory without end.
    if (output.length < 1_000_000) output += chunk.toString()
  }
  proc.stdout!.on('data', collect)
  proc.stderr!.on('data', collect)
  const exited = new Promise<Exit>((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() }))
  })
  let running = true
  exited.then(() => { running = false })
  const kill = (signal: NodeJS.Signals) => { if (running) proc.kill(signal) }
  t.teardown(async () => {
    kill('SIGKILL')
    await exited
  })

  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + readyMs
  for (;;) {
    if (!running) throw new Error(`the server exited before it was ready:\n${output}`)
    if (Date.now() > deadline) throw new Error(`the server was not ready within ${readyMs} ms:\n${output}`)
    try {
      const res = await fetch(`${base}/`, { signal: AbortSignal.timeout(1000) })
      await res.arrayBuffer()
      if (res.status === 200) break
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { proc, port, base, wsBase: `ws://127.0.0.1:${port}`, output: () => output, exited, kill }
}
