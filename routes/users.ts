// Users: GET /users/{id}, POST /users (a guest), PUT /users/{id}/profile, GET /users/search.
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ChatError } from '../src/chat/errors'
import { cleanUsername } from '../src/chat/text'
import { ErrorSchema } from '../src/schemas/http'
import { GuestBodySchema, ProfileBodySchema, ProfileReplySchema, SearchQuerySchema, UserParamsSchema, UserSchema } from '../src/schemas/users'
import { ConflictError } from '../src/store/user-store'
import { asConflict, profilePatch, userWire } from '../src/users/users'

const SEARCH_LIMIT = 20

const users: FastifyPluginAsyncTypebox = async (fastify) => {
  const { store, accounts, authorize, authorizeRead } = fastify

  fastify.get('/users/search', {
    schema: { tags: ['users'], summary: 'Users whose name starts with q', querystring: SearchQuerySchema, response: { 200: Type.Array(UserSchema) } }
  }, async (request) => {
    authorizeRead(request)
    const limit = Math.min(Number(request.query.limit ?? SEARCH_LIMIT), 100)
    return (await store.searchUsers(request.query.q.trim(), limit)).map((user) => userWire(user, { owner: false }))
  })

  fastify.get('/users/:user_id', {
    schema: {
      tags: ['users'],
      summary: 'A user: an account, a guest, or anyone seen in a room',
      description: '404 only for an id never seen. The email only to its owner, with their token.',
      params: UserParamsSchema,
      response: { 200: UserSchema, 404: ErrorSchema }
    }
  }, async (request) => {
    const { user_id: userId } = request.params
    authorizeRead(request)
    const user = await store.getUser(userId)
    if (!user) throw new ChatError('unknown_user', `user ${userId} has never been seen`, 404)
    return userWire(user, { owner: accounts.tokenUser(request) === userId })
  })

  fastify.post('/users', {
    schema: {
      tags: ['users'],
      summary: 'Create a guest user with a fresh id',
      body: GuestBodySchema,
      response: { 200: UserSchema, 400: ErrorSchema, 409: ErrorSchema }
    }
  }, async (request) => {
    const username = cleanUsername(request.body.username)
    if (username === undefined) throw new ChatError('invalid_username', 'username must be 1–64 characters of text')
    try {
      const user = await store.createUser({ id: randomUUID(), username })
      request.log.info({ userId: user.id }, 'guest created')
      return userWire(user, { owner: true })
    } catch (err) {
      if (err instanceof ConflictError) throw new ChatError('username_taken', 'username already registered to an account', 409)
      throw err
    }
  })

  fastify.put('/users/:user_id/profile', {
    schema: {
      tags: ['users'],
      summary: 'Change a profile: the fields given; an empty string clears one',
      description: 'A password account changes only with its token (401 without, 403 with another user\'s). A new name or avatar reaches the user\'s later room messages.',
      params: UserParamsSchema,
      body: ProfileBodySchema,
      response: { 200: ProfileReplySchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema }
    }
  }, async (request) => {
    const { user_id: userId } = request.params
    const user = await store.getUser(userId)
    if (!user) throw new ChatError('unknown_user', `user ${userId} has never been seen`, 404)
    // In open mode a guest needs no token; an account always does. With AUTH_SECRET, everyone.
    if (user.account) accounts.requireOwner(request, userId)
    else authorize(request, userId)
    const updated = await store.updateUser(userId, profilePatch(request.body, user)).catch(asConflict)
    if (!updated) throw new ChatError('unknown_user', `user ${userId} has never been seen`, 404)
    return { success: true as const, user: userWire(updated, { owner: true }) }
  })
}

export default users
