// GET /demo: the demo page and its files, with a strict CSP.
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { extname, join, relative, sep } from 'node:path'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

// public/ sits at the project root: one level up from routes/demo.ts (tap runs the
// sources), two levels up from dist/routes/demo.js (the built server).
const PUBLIC_DIR = [join(__dirname, '..', 'public'), join(__dirname, '..', '..', 'public')]
  .find((dir) => existsSync(join(dir, 'demo.html')))

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml'
}

// The page renders user content with textContent only; the policy is a second line.
// Avatars are any http(s) URL a user gave, hence img-src; no referrer leaks to them.
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' http: https:; " +
    "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff'
}

interface Asset { body: Buffer, type: string, etag: string }

function listFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    return entry.isDirectory() ? listFiles(path) : [path]
  })
}

/** The demo page at /demo and its assets at /demo/<path>, read from public/ once, at registration. */
const demo: FastifyPluginAsyncTypebox = async (fastify) => {
  if (PUBLIC_DIR === undefined) {
    fastify.log.warn('public/demo.html not found: /demo is not served')
    return
  }
  const assets = new Map<string, Asset>()
  for (const path of listFiles(PUBLIC_DIR)) {
    const type = TYPES[extname(path)]
    if (type === undefined) continue
    const body = readFileSync(path)
    const name = relative(PUBLIC_DIR, path).split(sep).join('/')
    const url = name === 'demo.html' ? '/demo' : `/demo/${name}`
    assets.set(url, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` })
  }

  for (const [url, asset] of assets) {
    fastify.get(url, async (request, reply) => {
      reply.header('content-type', asset.type).header('cache-control', 'no-cache').header('etag', asset.etag)
      if (url === '/demo') reply.headers(PAGE_HEADERS)
      if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send()
      return reply.send(asset.body)
    })
  }
  fastify.get('/demo/', async (_request, reply) => reply.redirect('/demo', 301))
}

export default demo
