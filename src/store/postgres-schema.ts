// The PostgreSQL schema and its migrations: instances starting at once run each migration once.
import type pg from 'pg'

// Each entry moves the schema one version up; parley_schema_version records where a database is.
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE rooms (
     room_id text PRIMARY KEY,
     created_at timestamptz NOT NULL,
     last_seq bigint NOT NULL DEFAULT 0,
     name text,
     thumbnail_url text,
     last_message_at timestamptz
   );
   CREATE TABLE profiles (
     room_id text NOT NULL,
     user_id text NOT NULL,
     username text,
     avatar_url text,
     joined_at timestamptz NOT NULL,
     PRIMARY KEY (room_id, user_id)
   );
   CREATE TABLE messages (
     room_id text NOT NULL,
     seq bigint NOT NULL,
     id text NOT NULL UNIQUE,
     user_id text NOT NULL,
     username text NOT NULL,
     content text NOT NULL,
     avatar text,
     created_at timestamptz NOT NULL,
     client_id text,
     PRIMARY KEY (room_id, seq)
   );
   CREATE UNIQUE INDEX messages_client_id ON messages (room_id, user_id, client_id) WHERE client_id IS NOT NULL;`,
  // Version 2: users (guests and accounts, one id space with room profiles), settings
  // (the token signing key), and the room details the newer client lists. The name_key
  // index is in byte order (COLLATE "C"), whatever the database's collation, like SQLite's:
  // a prefix LIKE is a range of it, read in the order searched (name_key, user_id).
  `CREATE TABLE users (
     user_id text PRIMARY KEY,
     username text,
     display_name text,
     name_key text,
     email text,
     password_hash text,
     avatar_url text,
     avatar_urls jsonb,
     bio text,
     fields jsonb NOT NULL DEFAULT '{}',
     created_at timestamptz NOT NULL
   );
   CREATE UNIQUE INDEX users_login ON users (lower(username)) WHERE password_hash IS NOT NULL;
   CREATE UNIQUE INDEX users_email ON users (lower(email)) WHERE email IS NOT NULL;
   CREATE INDEX users_name_key ON users (name_key COLLATE "C", user_id COLLATE "C");
   CREATE INDEX profiles_user ON profiles (user_id, joined_at);
   CREATE TABLE settings (key text PRIMARY KEY, value text NOT NULL);
   ALTER TABLE rooms
     ADD COLUMN category text,
     ADD COLUMN description text,
     ADD COLUMN tags text[] NOT NULL DEFAULT '{}',
     ADD COLUMN privacy text NOT NULL DEFAULT 'public',
     ADD COLUMN max_members integer,
     ADD COLUMN password_hash text,
     ADD COLUMN host jsonb,
     ADD COLUMN created_by text;
   CREATE INDEX rooms_category ON rooms (category);
   CREATE TABLE room_thumbnails (
     room_id text PRIMARY KEY,
     content_type text NOT NULL,
     data bytea NOT NULL
   );`,
  // Version 3: direct messages. Ids are UUIDv7 made in order (ids.ts): the id orders a
  // conversation. Ids are compared and sorted in byte order (COLLATE "C"), like SQLite's
  // and JavaScript's, whatever the database's collation; so are the indexes on them.
  `CREATE TABLE direct_messages (
     id text COLLATE "C" PRIMARY KEY,
     conversation_id text NOT NULL,
     sender_id text NOT NULL,
     receiver_id text NOT NULL,
     content text NOT NULL,
     sender_username text NOT NULL,
     sender_avatar text,
     created_at timestamptz NOT NULL,
     client_id text,
     delivered_at timestamptz,
     claim_until timestamptz,
     read_at timestamptz
   );
   CREATE INDEX dm_conversation ON direct_messages (conversation_id, id);
   CREATE INDEX dm_sender ON direct_messages (sender_id, id);
   CREATE INDEX dm_receiver ON direct_messages (receiver_id, id);
   CREATE INDEX dm_undelivered ON direct_messages (receiver_id, id) WHERE delivered_at IS NULL;
   CREATE INDEX dm_unread ON direct_messages (receiver_id, conversation_id) WHERE read_at IS NULL;
   CREATE UNIQUE INDEX dm_client_id ON direct_messages (sender_id, client_id) WHERE client_id IS NOT NULL;
   CREATE TABLE dm_hidden (
     user_id text NOT NULL,
     conversation_id text NOT NULL,
     through_id text COLLATE "C" NOT NULL,
     PRIMARY KEY (user_id, conversation_id)
   );`,
  // Version 4: each message keeps its wire JSON (written by the append statement), so a
  // history page is a join of stored strings; each room row keeps its member count (the
  // join writes it) beside last_seq and last_message_at, so the listing reads room rows
  // only. Its order is not indexed: every append batch updates its room's row, and an
  // index on last_message_at would make each of those updates non-HOT (a new entry in
  // every index of rooms per batch); the listing's top-N sort runs in PostgreSQL instead.
  // fill_version counts the writes to the room's profiles (whose avatars pages fill), by any
  // writer, so an instance can tell whether a page it keeps is still the room's: the room
  // rows are locked in room_id order, as the append statement does, so writers never deadlock.
  `ALTER TABLE messages ADD COLUMN json text;
   UPDATE messages SET json = '{"type":"message","id":' || to_json(id)::text || ',"room_id":' || to_json(room_id)::text
     || ',"user_id":' || to_json(user_id)::text || ',"username":' || to_json(username)::text || ',"content":' || to_json(content)::text
     || ',"avatar":' || COALESCE(to_json(avatar)::text, 'null') || ',"avatar_url":' || COALESCE(to_json(avatar)::text, 'null')
     || ',"timestamp":"' || to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '","seq":' || seq::text
     || CASE WHEN client_id IS NULL THEN '' ELSE ',"client_id":' || to_json(client_id)::text END || '}';
   ALTER TABLE messages ALTER COLUMN json SET NOT NULL;
   ALTER TABLE rooms ADD COLUMN member_count integer NOT NULL DEFAULT 0;
   UPDATE rooms r SET member_count = (SELECT count(*) FROM profiles p WHERE p.room_id = r.room_id);
   ALTER TABLE rooms ADD COLUMN fill_version bigint NOT NULL DEFAULT 0;
   CREATE FUNCTION parley_profiles_changed() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
   BEGIN
     PERFORM 1 FROM rooms WHERE room_id IN (SELECT room_id FROM changed) ORDER BY room_id FOR UPDATE;
     UPDATE rooms SET fill_version = fill_version + 1 WHERE room_id IN (SELECT room_id FROM changed);
     RETURN NULL;
   END $$;
   CREATE TRIGGER profiles_inserted AFTER INSERT ON profiles REFERENCING NEW TABLE AS changed
     FOR EACH STATEMENT EXECUTE FUNCTION parley_profiles_changed();
   CREATE TRIGGER profiles_updated AFTER UPDATE ON profiles REFERENCING NEW TABLE AS changed
     FOR EACH STATEMENT EXECUTE FUNCTION parley_profiles_changed();`
]

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length

// One key for every Parley migration on the server ('PARLEY' in ASCII): instances starting at once take turns.
const MIGRATION_LOCK = 0x5041524c4559
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

export async function migrate (pool: pg.Pool, schema: string | undefined): Promise<void> {
  await transaction(pool, async (client) => {
    // Taken before anything is read: two instances starting at once run each migration once.
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
    if (schema !== undefined) {
      const { rows } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
      if (rows.length === 0) await client.query(`CREATE SCHEMA ${schema}`)
      // A connection string's own `options` replace ours (pg gives it precedence): never write elsewhere.
      const { rows: [{ current }] } = await client.query<{ current: string | null }>('SELECT current_schema() AS current')
      if (current !== schema) throw new Error(`search_path does not select schema "${schema}" (is "${current}"); remove options from the connection string`)
    }
    await client.query(`CREATE TABLE IF NOT EXISTS parley_schema_version (
      version integer PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`)
    const { rows: [{ version }] } = await client.query<{ version: number }>('SELECT COALESCE(MAX(version), 0) AS version FROM parley_schema_version')
    if (version > MIGRATIONS.length) {
      throw new Error(`the database schema is version ${version}, newer than this build knows (${MIGRATIONS.length}); run a newer Parley`)
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      await client.query(MIGRATIONS[v])
      await client.query('INSERT INTO parley_schema_version (version) VALUES ($1)', [v + 1])
    }
  })
}

/** Work in one transaction on one pooled connection; rolled back on any error. */
export async function transaction<T> (pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    const result = await work(client)
    await client.query('COMMIT')
    client.release()
    return result
  } catch (err) {
    // A connection that cannot even roll back is destroyed rather than handed to the next caller.
    await client.query('ROLLBACK').then(() => client.release(), (rollbackErr: Error) => client.release(rollbackErr))
    throw err
  }
}
