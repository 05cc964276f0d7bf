'use strict'
// Shared helpers for the bench orchestrator: child processes, /proc accounting,
// free ports, histograms, tables. Plain JS, no build step.

const { spawn, fork, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const http = require('node:http')

const ROOT = path.resolve(__dirname, '..')
const CACHE = path.join(__dirname, '.cache')
const CLK_TCK = (() => {
  try { return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100 } catch { return 100 }
})()

const children = new Set()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Kills every child this bench started (by pid), e.g. on a deadline or Ctrl-C. */
function killChildren (signal = 'SIGKILL') {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try { process.kill(child.pid, signal) } catch {}
    }
  }
}

function track (child) {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

function freePort () {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** utime and stime of a process in milliseconds, from /proc/<pid>/stat. */
function cpuSplit (pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name is in parentheses and may hold spaces: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { user: (Number(fields[11]) * 1000) / CLK_TCK, sys: (Number(fields[12]) * 1000) / CLK_TCK }
}

/** utime+stime of a process in milliseconds. */
function cpuMs (pid) {
  const { user, sys } = cpuSplit(pid)
  return user + sys
}

/**
 * CPU time (ms) of every process whose command name is in `names` (e.g. postgres,
 * redis-server), by pid. Their difference over a window is what those services spent.
 */
function cpuByName (names) {
  const out = new Map()
  let entries = []
  try { entries = fs.readdirSync('/proc') } catch { return out }
  for (const e of entries) {
    if (e.charCodeAt(0) < 48 || e.charCodeAt(0) > 57) continue
    try {
      const comm = fs.readFileSync(`/proc/${e}/comm`, 'utf8').trim()
      if (names.includes(comm)) out.set(Number(e), cpuMs(Number(e)))
    } catch {}
  }
  return out
}

/** CPU ms spent between two cpuByName() samples (a process that started in between counts whole). */
function cpuByNameDelta (before, after) {
  let ms = 0
  for (const [pid, t] of after) ms += t - (before.get(pid) ?? 0)
  return ms
}

/** Busy CPU time of the whole machine in ms (all cores), from /proc/stat. */
function machineBusyMs () {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]
  // cpu user nice system idle iowait irq softirq steal guest guest_nice
  const v = line.trim().split(/\s+/).slice(1).map(Number)
  const busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
  return (busy * 1000) / CLK_TCK
}

/** Read/write syscall counts of a process, from /proc/<pid>/io ({} if unreadable). */
function syscalls (pid) {
  try {
    const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8')
    const get = (k) => Number((new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(io) || [])[1])
    return { r: get('syscr'), w: get('syscw') }
  } catch {
    return { r: NaN, w: NaN }
  }
}

/** VmRSS in bytes, from /proc/<pid>/status. */
function rssBytes (pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(status)
  return m ? Number(m[1]) * 1024 : NaN
}

function openFilesLimit () {
  try {
    const limits = fs.readFileSync('/proc/self/limits', 'utf8')
    const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(limits)
    const n = (v) => (v === 'unlimited' ? Infinity : Number(v))
    return m ? { soft: n(m[1]), hard: n(m[2]) } : { soft: Infinity, hard: Infinity }
  } catch {
    return { soft: Infinity, hard: Infinity }
  }
}

function httpGet (url, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode, body }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

function httpPostJson (url, value, agent) {
  const payload = JSON.stringify(value)
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
    }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode, body }))
    })
    req.on('error', reject)
    req.end(payload)
  })
}

/**
 * Starts a server as a child node process and waits until GET / answers 200.
 * Returns { name, pid, port, url, wsUrl, stop(), log }.
 */
async function startServer ({ name, script, args = [], nodeArgs = [], env = {}, logFile, readyTimeoutMs = 30000, port: fixedPort, pollMs = 100 }) {
  // A restart (bench/restart-storm.js) comes back on the port its clients know.
  const port = fixedPort || await freePort()
  const childEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PORT: String(port),
    HOST: '127.0.0.1',
    ...env
  }
  const child = track(spawn(process.execPath, [...nodeArgs, script, ...args], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe']
  }))
  fs.mkdirSync(path.dirname(logFile), { recursive: true })
  const log = fs.createWriteStream(logFile, { flags: 'a' })
  let tail = ''
  const keep = (chunk) => {
    log.write(chunk)
    tail = (tail + chunk.toString()).slice(-4000)
  }
  // Always drained: stdout to a pipe is synchronous on Linux, and a full pipe would stall the server.
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))

  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + readyTimeoutMs
  let ready = false
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break
    try {
      const res = await httpGet(`${url}/`, 1000)
      if (res.status === 200) { ready = true; break }
    } catch {}
    await sleep(pollMs)
  }
  if (!ready) {
    try { child.kill('SIGKILL') } catch {}
    await exited
    log.end()
    throw new Error(`${name} did not start (see ${path.relative(ROOT, logFile)}):\n${tail}`)
  }

  return {
    name,
    pid: child.pid,
    port,
    url,
    wsUrl: `ws://127.0.0.1:${port}`,
    get tail () { return tail },
    async stop (timeoutMs = 15000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => { try { child.kill('SIGKILL') } catch {} }, timeoutMs)
        const result = await exited
        clearTimeout(timer)
        log.end()
        return result
      }
      log.end()
      return exited
    }
  }
}

/**
 * A load-generator child (a script in bench/) with an IPC channel.
 * `next(predicate)` resolves with the next message that matches.
 */
function startWorker (script, args = [], { env = {} } = {}) {
  const child = track(fork(path.join(__dirname, script), args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  }))
  const queue = []
  const waiters = []
  let exitInfo = null
  child.on('message', (msg) => {
    const i = waiters.findIndex((w) => w.match(msg))
    if (i >= 0) waiters.splice(i, 1)[0].resolve(msg)
    else queue.push(msg)
  })
  child.once('exit', (code, signal) => {
    exitInfo = { code, signal }
    for (const w of waiters.splice(0)) w.reject(new Error(`${script} exited (${code ?? signal}) while waiting`))
  })
  return {
    child,
    send: (msg) => { if (child.connected) child.send(msg) },
    next (match, timeoutMs = 120000) {
      const i = queue.findIndex(match)
      if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0])
      if (exitInfo) return Promise.reject(new Error(`${script} exited (${exitInfo.code ?? exitInfo.signal})`))
      return new Promise((resolve, reject) => {
        const waiter = { match, resolve, reject }
        const timer = setTimeout(() => {
          const j = waiters.indexOf(waiter)
          if (j >= 0) waiters.splice(j, 1)
          reject(new Error(`${script}: no answer in ${timeoutMs} ms`))
        }, timeoutMs)
        waiter.resolve = (m) => { clearTimeout(timer); resolve(m) }
        waiter.reject = (e) => { clearTimeout(timer); reject(e) }
        waiters.push(waiter)
      })
    },
    async exit (timeoutMs = 10000) {
      if (exitInfo) return exitInfo
      const done = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
      if (child.connected) child.send({ cmd: 'exit' })
      const timer = setTimeout(() => { try { child.kill('SIGKILL') } catch {} }, timeoutMs)
      const result = await done
      clearTimeout(timer)
      return result
    }
  }
}

/** Runs a bench script as a child and parses the last line of its stdout as JSON. */
function runJson (script, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = track(spawn(process.execPath, [path.join(__dirname, script), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      stdio: ['ignore', 'pipe', 'pipe']
    }))
    let out = ''
    let err = ''
    child.stdout.on('data', (c) => { out += c })
    child.stderr.on('data', (c) => { err += c })
    const timer = setTimeout(() => { try { child.kill('SIGKILL') } catch {} }, timeoutMs)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      const last = out.trim().split('\n').pop()
      try {
        if (code !== 0) throw new Error(`exit ${code ?? signal}`)
        resolve(JSON.parse(last))
      } catch (e) {
        reject(new Error(`${script} failed (${e.message}): ${err.slice(-2000)}${out.slice(-500)}`))
      }
    })
  })
}

// Latency histogram shared with the generator: 10 µs buckets below 100 ms, 1 ms buckets up to 60 s.
const HIST_FINE = 10000
const HIST_SIZE = HIST_FINE + 59900
function histIndex (ms) {
  if (ms < 0) return 0
  if (ms < 100) return Math.floor(ms * 100)
  return Math.min(HIST_FINE + Math.floor(ms) - 100, HIST_SIZE - 1)
}
function histValue (i) {
  return i < HIST_FINE ? (i + 0.5) / 100 : i - HIST_FINE + 100.5
}
function histPercentile (hist, total, p) {
  if (total === 0) return NaN
  const rank = Math.ceil((p / 100) * total)
  let seen = 0
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]
    if (seen >= rank) return histValue(i)
  }
  return histValue(hist.length - 1)
}

function percentile (sorted, p) {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

/** The median of the finite values (the mean of the middle two for an even count); NaN for none. */
function median (values) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
}

function fmt (value, digits = 2) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—'
  if (typeof value === 'string') return value
  if (Math.abs(value) >= 1e6) return `${(value / 1e6).toFixed(2)}M`
  if (Math.abs(value) >= 1e4) return `${(value / 1e3).toFixed(1)}k`
  return Number(value.toFixed(digits)).toString()
}

/** A markdown table that also reads well in a terminal. */
function table (headers, rows) {
  const cells = [headers, ...rows].map((r) => r.map((c) => String(c)))
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length), 3))
  const line = (r) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
  return [line(cells[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n')
}

module.exports = {
  ROOT,
  CACHE,
  CLK_TCK,
  sleep,
  killChildren,
  freePort,
  cpuMs,
  cpuSplit,
  machineBusyMs,
  cpuByName,
  cpuByNameDelta,
  syscalls,
  rssBytes,
  openFilesLimit,
  httpGet,
  httpPostJson,
  startServer,
  startWorker,
  runJson,
  HIST_SIZE,
  histIndex,
  histPercentile,
  percentile,
  median,
  fmt,
  table
}
