// Accounts: POST /auth/signup, /auth/login, /auth/logout, GET /auth/me.
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { decoyHash, hashPassword, verifyPassword } from '../src/accounts/passwords'
import { ChatError } from '../src/chat/errors'
import { ErrorSchema } from '../src/schemas/http'
import { LoginBodySchema, SessionSchema, SignupBodySchema, UserSchema } from '../src/schemas/users'
import { SuccessSchema } from '../src/schemas/rooms'
import { asConflict, userWire } from '../src/users/users'

const auth: FastifyPluginAsyncTypebox = async (fastify) => {
  const { store, accounts, clientKey } = fastify

  fastify.post('/auth/signup', {
    schema: {
      tags: ['accounts'],
      summary: 'Create an account: {user, token}',
      description: 'Login names are unique case-insensitively, emails too (409). The password is kept as a scrypt hash.',
      body: SignupBodySchema,
      response: { 200: SessionSchema, 400: ErrorSchema, 409: ErrorSchema }
    }
  }, async (request) => {
    const { username, email, password } = request.body
    const user = await store.createUser({ id: randomUUID(), username, email: email.trim(), passwordHash: await hashPassword(password) }).catch(asConflict)
    request.log.info({ userId: user.id }, 'account created')
    return { user: userWire(user, { owner: true }), token: accounts.sign(user.id) }
  })

  fastify.post('/auth/login', {
    schema: {
      tags: ['accounts'],
      summary: 'Log in with the login name (or email) and password: {user, token}',
      description: 'A wrong name or password is a 403 (a 401 would log the client out). Failed attempts are limited per name and per address (429).',
      body: LoginBodySchema,
      response: { 200: SessionSchema, 403: ErrorSchema, 429: ErrorSchema }
    }
  }, async (request) => {
    const { username: login, password } = request.body
    const address = clientKey(request)
    if (!await accounts.limiter.allowed(login, address)) {
      request.log.warn({ login }, 'login refused: too many failed attempts')
      throw new ChatError('too_many_attempts', 'too many failed logins; try again later', 429)
    }
    const account = await store.accountByLogin(login.trim())
    // The same work whether the name exists or not: timing tells nothing.
    const valid = await verifyPassword(password, account?.passwordHash ?? await decoyHash())
    if (!account || !valid) {
      await accounts.limiter.failed(login, address)
      request.log.info({ login }, 'login failed')
      throw new ChatError('invalid_credentials', 'invalid username or password', 403)
    }
    return { user: userWire(account.user, { owner: true }), token: accounts.sign(account.user.id) }
  })

  fastify.post('/auth/logout', {
    schema: {
      tags: ['accounts'],
      summary: 'Log out: always 200',
      description: 'Tokens are not kept by the server: the client forgets its own. Never fails, so the client\'s logout always completes.',
      response: { 200: SuccessSchema }
    }
  }, async () => ({ success: true as const }))

  fastify.get('/auth/me', {
    schema: { tags: ['accounts'], summary: 'The user of the bearer token', response: { 200: UserSchema, 401: ErrorSchema } }
  }, async (request) => {
    const userId = accounts.tokenUser(request)
    if (userId === null) throw new ChatError('unauthorized', 'a valid token is required', 401)
    const user = await store.getUser(userId)
    if (!user) throw new ChatError('unauthorized', 'the token\'s user no longer exists', 401)
    return userWire(user, { owner: true })
  })
}

export default auth
