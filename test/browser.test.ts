import { copyFileSync, existsSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { join } from 'node:path'
import t from 'tap'
import { chromium, type Page } from 'playwright-core'
import type { WebSocket } from 'ws'
import { build, listen, until } from './helper'

const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const WAIT_MS = 10_000

t.test('GET /demo serves the page and its assets', async (t) => {
  const app = await build(t)
  const page = await app.inject({ url: '/demo' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.headers['content-security-policy'], /script-src 'self'/)
  t.match(page.body, /<script src="\/demo\/demo.js"/)
  for (const [url, type] of [['/demo/demo.js', /^text\/javascript/], ['/demo/demo.css', /^text\/css/], ['/demo/avatars/fox.svg', /^image\/svg\+xml/]] as const) {
    const asset = await app.inject({ url })
    t.equal(asset.statusCode, 200, url)
    t.match(asset.headers['content-type'], type, url)
  }
  const again = await app.inject({ url: '/demo', headers: { 'if-none-match': String(page.headers.etag) } })
  t.equal(again.statusCode, 304, 'an unchanged page is not sent twice')
  t.equal((await app.inject({ url: '/demo/nope.js' })).statusCode, 404)
})

if (!existsSync(chromiumPath)) {
  t.comment('Chromium not found: skipping the browser test')
  t.test('two people chat on the demo page in Chromium', { skip: `no Chromium at ${chromiumPath}` }, async () => {})
} else {
  t.test('two people chat on the demo page in Chromium', { timeout: 55_000 }, async (t) => {
    const { app, base } = await listen(t, {
      // No CORS setting for the page's origin: a page served by Parley is same-origin.
      rateLimitMax: 100_000,
      wsMessageRate: 1000,
      wsMessageBurst: 1000,
      wsFrameRate: 1000,
      wsFrameBurst: 1000,
      // One missed message is replayed on reconnect; two are a gap, loaded from history.
      recoveryMaxMessages: 1
    })

    // Server side: every socket with its user and since=, and a switch that refuses
    // a user's reconnects with 1013 (try again later) while a test step needs them away.
    const sockets: Array<{ socket: WebSocket, userId: string, since: string | null }> = []
    const refused = new Set<string>()
    app.websocketServer.on('connection', (socket: WebSocket, request: IncomingMessage) => {
      const url = new URL(request.url ?? '/', base)
      const userId = decodeURIComponent(url.pathname.split('/')[3] ?? '')
      sockets.push({ socket, userId, since: url.searchParams.get('since') })
      if (refused.has(userId)) socket.close(1013, 'try again later')
    })
    const socketsOf = (userId: string) => sockets.filter((s) => s.userId === userId)

    const browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      // Playwright gives every launch a fresh, empty profile directory.
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-quic'],
      timeout: WAIT_MS
    })
    t.teardown(() => browser.close())

    const room = 'browser-room'
    // Two contexts: two people, nothing shared between their tabs.
    const open = async (): Promise<Page> => {
      const context = await browser.newContext({ viewport: { width: 1000, height: 640 } })
      const page = await context.newPage()
      page.setDefaultTimeout(WAIT_MS)
      page.on('pageerror', (err) => t.fail(`page error: ${err.message}`))
      await page.goto(`${base}/demo`)
      return page
    }
    const enter = async (page: Page, name: string, avatar: (page: Page) => Promise<void>) => {
      await page.fill('#name', name)
      await avatar(page)
      await page.fill('#room', room)
      await page.click('#join')
      await page.waitForSelector('#status[data-state="live"]')
      return String(await page.locator('body').getAttribute('data-user-id'))
    }
    const contents = (page: Page) => page.locator('#messages li.message .content').allTextContents()
    const pending = (page: Page) => page.locator('#outbox li.message').count()
    const shows = async (page: Page, text: string) => {
      await page.locator('#messages li.message .content', { hasText: text }).first().waitFor()
    }
    const say = async (page: Page, text: string) => {
      await page.fill('#text', text)
      await page.press('#text', 'Enter')
    }

    const pageA = await open()
    const pageB = await open()
    const alice = await enter(pageA, 'Alice', (page) => page.click('#presets button[title="Fox"]'))
    const bob = await enter(pageB, 'Bob', (page) => page.fill('#avatar', `${base}/demo/avatars/owl.svg`))
    t.not(alice, bob, 'each tab has its own user id')
    t.equal(socketsOf(alice)[0].since, '0', 'the first socket resumes from the history it loaded')

    // Presence: room_state for the second, user_joined for the first.
    await pageA.waitForSelector(`#online li[data-user-id="${bob}"]`)
    await pageB.waitForSelector(`#online li[data-user-id="${alice}"]`)
    t.equal(await pageB.locator('#online-count').textContent(), '2', 'Bob sees two people online')
    t.equal(await pageA.locator(`#online li[data-user-id="${bob}"] .name`).textContent(), 'Bob')

    // Typing: Alice types, Bob sees it; nothing shows on Alice's own page.
    await pageA.locator('#text').pressSequentially('hello', { delay: 20 })
    await pageB.locator('#typing', { hasText: 'Alice is typing…' }).waitFor()
    t.pass('Bob sees Alice typing')
    t.equal(await pageA.locator('#typing').textContent(), '', 'Alice does not see herself typing')

    // Alice sends: an optimistic copy first, then the echo takes its place.
    await pageA.evaluate(`(() => {
      window.pendingSeen = []
      new MutationObserver((records) => {
        for (const record of records) for (const node of record.addedNodes) {
          if (node.classList && node.classList.contains('pending')) window.pendingSeen.push(node.querySelector('.content').textContent)
        }
      }).observe(document.getElementById('outbox'), { childList: true })
    })()`)
    await pageA.fill('#text', 'hello from Alice')
    await pageA.click('#send')
    await shows(pageB, 'hello from Alice')
    await shows(pageA, 'hello from Alice')
    t.same(await pageA.evaluate('window.pendingSeen'), ['hello from Alice'], 'Alice saw her optimistic copy')
    await pageB.locator('#typing:empty').waitFor()
    t.pass('Bob\'s typing indicator clears when the message arrives')

    // Bob replies, with markup that must stay text.
    const markup = '<img src=x onerror="document.title=\'pwned\'"> <b>not bold</b> & done'
    await say(pageB, 'hi Alice, Bob here')
    await say(pageB, markup)
    await shows(pageA, 'not bold')
    t.equal(await pageA.locator('#messages .content img, #messages .content b').count(), 0, 'markup is rendered as text')
    t.equal(await pageA.title(), 'Parley demo')
    const conversation = ['hello from Alice', 'hi Alice, Bob here', markup]
    t.same(await contents(pageA), conversation, 'Alice shows each message once, in order')
    t.same(await contents(pageB), conversation, 'Bob shows each message once, in order')
    t.equal(await pending(pageA), 0, 'no optimistic copy is left')

    // The server drops Alice's socket and turns her reconnects away while Bob writes.
    const awayAndBack = async (messages: string[], queued?: string) => {
      const before = socketsOf(alice).length
      refused.add(alice)
      for (const { socket } of socketsOf(alice)) socket.terminate()
      await pageA.waitForSelector('#status[data-state="reconnecting"]')
      if (queued !== undefined) {
        await say(pageA, queued)
        await pageA.locator('#outbox li.message[data-state="queued"]', { hasText: queued }).waitFor()
      }
      for (const text of messages) {
        await say(pageB, text)
        await shows(pageB, text)
      }
      await until(() => socketsOf(alice).length > before, WAIT_MS)
      await pageA.locator('#status', { hasText: 'closed 1013: try again later' }).waitFor()
      t.equal(await pageA.locator('#status').getAttribute('data-state'), 'reconnecting', 'a refused reconnect backs off again')
      refused.delete(alice)
      await pageA.waitForSelector('#status[data-state="live"]', { timeout: 15_000 })
      return socketsOf(alice).at(-1)!
    }

    const seqOn = async (page: Page, text: string) => Number(await page.locator('#messages li.message', {
      has: page.locator('.content', { hasText: text })
    }).getAttribute('data-seq'))

    // One missed message: replayed on the socket (since=).
    // Alice writes meanwhile: her message waits in the outbox and goes out once she is live.
    const replayed = await awayAndBack(['while you were away'], 'written while offline')
    t.ok(Number(replayed.since) < await seqOn(pageB, 'while you were away'), `Alice resumed with since=${replayed.since}, before the missed message`)
    await shows(pageA, 'while you were away')
    await shows(pageA, 'written while offline')
    await shows(pageB, 'written while offline')
    conversation.push('while you were away', 'written while offline')
    t.same(await contents(pageA), conversation, 'the missed message shows on Alice once, then her queued one')
    t.equal(await pending(pageA), 0, 'the outbox is empty once the queued message is echoed')

    // Two missed messages: more than the server replays, so Alice reads them from history.
    const historyReads: string[] = []
    pageA.on('request', (request) => {
      if (request.url().includes('/messages?after=')) historyReads.push(request.url())
    })
    await awayAndBack(['gap one', 'gap two'])
    await shows(pageA, 'gap two')
    conversation.push('gap one', 'gap two')
    t.same(await contents(pageA), conversation, 'the gap is filled from history, each message once')
    t.ok(historyReads.length >= 1, `the gap was loaded with GET …/messages?after= (${historyReads.length} page(s))`)

    // Live again in both directions, and both see each other online.
    await say(pageA, 'back online')
    await shows(pageB, 'back online')
    conversation.push('back online')
    await pageA.locator('#outbox li').first().waitFor({ state: 'detached' })
    t.same(await contents(pageA), conversation, 'Alice: the whole conversation once, in order')
    t.same(await contents(pageB), conversation, 'Bob: the whole conversation once, in order')
    await pageA.waitForSelector(`#online li[data-user-id="${bob}"]`)
    await pageB.waitForSelector(`#online li[data-user-id="${alice}"]`)
    t.pass('both see each other online after the reconnects')

    const dir = t.testdir()
    await pageA.screenshot({ path: join(dir, 'demo-A.png') })
    await pageB.screenshot({ path: join(dir, 'demo-B.png') })
    copyFileSync(join(dir, 'demo-A.png'), '/tmp/parley-demo-A.png')
    copyFileSync(join(dir, 'demo-B.png'), '/tmp/parley-demo-B.png')
    await browser.close()
  })
}
