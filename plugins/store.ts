import fp from 'fastify-plugin'
import { createSqliteStore } from '../src/sqlite-store'
import type { RoomStore } from '../src/store'

declare module 'fastify' {
  interface FastifyInstance {
    store: RoomStore
  }
}

export default fp(async function storePlugin (fastify) {
  const { databaseUrl, sqliteSynchronous } = fastify.config
  const store = createSqliteStore({ filename: databaseUrl, synchronous: sqliteSynchronous })
  fastify.decorate('store', store)
  fastify.addHook('onClose', async () => store.close())
}, { name: 'store', dependencies: ['config'] })
