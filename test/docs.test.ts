import t from 'tap'
import { once } from 'node:events'
import WebSocket from 'ws'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { CLIENT_FRAMES, CLOSE_CODES, ERROR_CODES, SERVER_FRAMES } from '../src/schemas/protocol'
import { build, FrameQueue, listen } from './helper'

const REST = [
  ['get', '/'],
  ['get', '/health'],
  ['post', '/rooms/{room_id}/join'],
  ['get', '/rooms'],
  ['post', '/rooms'],
  ['get', '/rooms/{room_id}/users'],
  ['post', '/rooms/{room_id}/messages'],
  ['get', '/rooms/{room_id}/messages'],
  ['get', '/docs/websocket.json'],
  ['get', '/metrics']
] as const

t.test('/docs answers the Swagger UI page, its assets served locally', async (t) => {
  const app = await build(t)
  const page = await app.inject('/docs')
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.body, /swagger/i)
  const bundle = await app.inject('/docs/static/swagger-ui-bundle.js')
  t.equal(bundle.statusCode, 200, 'no CDN needed')
})

t.test('/docs/json is OpenAPI 3.1 with every REST path, its parameters and schemas', async (t) => {
  const app = await build(t)
  const res = await app.inject('/docs/json')
  t.equal(res.statusCode, 200)
  const doc = res.json()
  t.match(doc.openapi, /^3\.1\./)
  t.match(doc.info, { title: 'Parley', description: /\/docs\/websocket\.json/ })
  for (const [method, path] of REST) {
    const operation = doc.paths[path]?.[method]
    t.ok(operation, `${method.toUpperCase()} ${path} is documented`)
    t.ok(operation?.tags?.length > 0 && operation?.summary, `${method.toUpperCase()} ${path} has a tag and a summary`)
    t.ok(operation?.responses?.['200']?.content, `${method.toUpperCase()} ${path} documents its 200 body`)
    const pathParams = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])
    t.same(operation?.parameters?.filter((p: any) => p.in === 'path').map((p: any) => p.name) ?? [], pathParams,
      `${method.toUpperCase()} ${path} documents its path parameters`)
  }

  const send = doc.paths['/rooms/{room_id}/messages'].post
  t.match(send.requestBody.content['application/json'].schema, {
    required: ['user_id', 'content'],
    properties: { user_id: { type: 'string', maxLength: 128 }, content: { type: 'string' }, client_id: {} }
  })
  t.match(send.parameters.find((p: any) => p.in === 'header'), { name: 'idempotency-key' })
  t.match(send.responses['200'].content['application/json'].schema, {
    required: ['type', 'id', 'room_id', 'user_id', 'username', 'content', 'avatar', 'avatar_url', 'timestamp', 'seq']
  })
  t.match(send.responses['400'].content['application/json'].schema, { required: ['error', 'message'] })
  const history = doc.paths['/rooms/{room_id}/messages'].get
  t.same(history.parameters.filter((p: any) => p.in === 'query').map((p: any) => p.name).sort(),
    ['after', 'after_id', 'before', 'before_id', 'limit'])
  const page = history.responses['200'].content['application/json'].schema
  t.equal(page.type, 'array')
  t.same(page.items.required, send.responses['200'].content['application/json'].schema.required, 'a page holds messages')
  t.match(doc.paths['/rooms/{room_id}/join'].post.requestBody.content['application/json'].schema, {
    required: ['user_id'], properties: { username: {}, avatar_url: {} }
  })
  t.match(doc.paths['/metrics'].get.responses['200'].content, { 'text/plain': { schema: { type: 'string' } } })
})

t.test('/docs/json describes the socket route from the protocol document', async (t) => {
  const app = await build(t)
  const doc = (await app.inject('/docs/json')).json()
  const socket = doc.paths['/ws/{room_id}/{user_id}'].get
  t.match(socket, { tags: ['websocket'], summary: /WebSocket/, responses: { 101: {}, 403: {}, 426: {} } })
  for (const type of Object.keys(SERVER_FRAMES)) t.match(socket.description, `\`${type}\``, `the description lists ${type}`)
  for (const { code } of CLOSE_CODES) t.match(socket.description, `| ${code} |`, `the description lists close code ${code}`)
  t.same(socket.parameters.filter((p: any) => p.in === 'query').map((p: any) => p.name).sort(),
    ['avatar_url', 'presence', 'since', 'token', 'username'])
  for (const name of Object.keys(SERVER_FRAMES)) t.ok(doc.components.schemas[`ws.server.${name}`], `ws.server.${name} is a component`)
})

t.test('/docs/websocket.json lists every frame type both ways, every error code and close code', async (t) => {
  const app = await build(t)
  const res = await app.inject('/docs/websocket.json')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  const doc = res.json()
  t.match(doc, { title: 'Parley WebSocket protocol', url: '/ws/{room_id}/{user_id}' })
  t.same(Object.keys(doc.client_frames), ['message', 'typing_start', 'typing_stop', 'keep_alive', 'pong'])
  t.same([...new Set(Object.values(doc.server_frames).map((f: any) => f.type))],
    ['message', 'typing_start', 'typing_stop', 'user_joined', 'user_left', 'ping', 'error', 'room_state', 'recovery'])
  t.match(doc.server_frames.recovery_gap.schema.properties.status, { const: 'gap' })
  t.match(doc.server_frames.message.schema, { additionalProperties: false, properties: { id: {}, seq: { type: 'integer' } } })
  t.same(doc.close_codes.map((c: any) => c.code), [4004, 1012, 1009, 1011, 1013, 1008, 1006])
  t.same(Object.keys(doc.error_codes), Object.keys(ERROR_CODES))
  t.same(Object.keys(doc.query).sort(), ['avatar_url', 'presence', 'since', 'token', 'username'])
  t.same(Object.keys(doc.path_parameters), ['room_id', 'user_id'])
})

/** A socket that records every frame it receives, from the first. */
async function recorded (t: { teardown (fn: () => unknown): void }, url: string, log: any[]) {
  const socket = new WebSocket(url)
  t.teardown(() => socket.terminate())
  socket.on('message', (data) => log.push(JSON.parse(data.toString())))
  const client = new FrameQueue(socket)
  await once(socket, 'open')
  return client
}

const frameName = (frame: any) => (frame.type === 'recovery' ? `recovery_${frame.status}` : frame.type)

t.test('every frame a live server sends matches its schema, and every server frame kind is produced', async (t) => {
  const { wsBase } = await listen(t, { recoveryMaxMessages: 1 })
  const received: any[] = []
  const sent: any[] = []
  const send = (client: FrameQueue, frame: any) => {
    sent.push(frame)
    client.send(frame)
  }

  const alice = await recorded(t, `${wsBase}/ws/r/alice?username=Alice&presence=1`, received)
  await alice.ofType('room_state')
  const bob = await recorded(t, `${wsBase}/ws/r/bob?avatar_url=https%3A%2F%2Fexample.com%2Fb.png`, received)
  await alice.ofType('user_joined')
  send(bob, { type: 'typing_start', timestamp: Date.now() })
  await alice.ofType('typing_start')
  send(bob, { content: 'hello', username: 'Bobby', client_id: 'c-1' })
  await alice.ofType('typing_stop')
  await alice.ofType('message')
  await bob.ofType('message')
  send(bob, { type: 'message', content: 'hello', client_id: 'c-1' })
  await bob.ofType('message')
  send(alice, { type: null, content: 'second', avatar: null })
  send(alice, { type: 'keep_alive' })
  send(alice, { type: 'pong' })
  await alice.ofType('ping')
  alice.send('not json')
  alice.send({ type: 'dance' })
  alice.send({ content: '   ' })
  alice.send({ content: 42 })
  alice.socket.send(Buffer.from('{}'), { binary: true })
  const codes: string[] = []
  for (let i = 0; i < 5; i++) codes.push((await alice.ofType('error')).code)
  t.same(codes.sort(), ['binary_not_supported', 'empty_content', 'invalid_frame', 'invalid_json', 'unknown_type'])
  bob.socket.close()
  await alice.ofType('user_left')

  // Two messages in the room: since=1 misses one (replayed), since=0 misses two (over the cap of 1).
  const carol = await recorded(t, `${wsBase}/ws/r/carol?since=1`, received)
  t.match(await carol.ofType('recovery'), { status: 'complete', replayed: 1 })
  const dave = await recorded(t, `${wsBase}/ws/r/dave?since=0`, received)
  t.match(await dave.ofType('recovery'), { status: 'gap' })
  await Promise.all([alice.settle(), carol.settle(), dave.settle()])

  const seen = new Set<string>()
  for (const frame of received) {
    const name = frameName(frame)
    const doc = SERVER_FRAMES[name]
    if (!doc) {
      t.fail(`an undocumented frame: ${JSON.stringify(frame)}`)
      continue
    }
    const check = TypeCompiler.Compile(doc.schema)
    if (!seen.has(name) || !check.Check(frame)) {
      t.ok(check.Check(frame), `${name} matches its schema: ${JSON.stringify([...check.Errors(frame)].map((e) => `${e.path} ${e.message}`))} in ${JSON.stringify(frame)}`)
    }
    seen.add(name)
  }
  t.same([...seen].sort(), Object.keys(SERVER_FRAMES).sort(), 'the scenario produced every kind of server frame')

  for (const frame of sent) {
    const check = TypeCompiler.Compile(CLIENT_FRAMES[frame.type ?? 'message'].schema)
    const { type, ...rest } = frame
    t.ok(check.Check(type === null ? rest : frame), `the client frame ${JSON.stringify(frame)} matches its documented schema`)
  }
})
