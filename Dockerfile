# syntax=docker/dockerfile:1
# Parley for hosts other than Railway. Build: docker build -t parley .
# Run:   docker run -p 8000:8000 -v parley-data:/data parley
# (or -e DATABASE_URL=postgres://… -e REDIS_URL=redis://… for several replicas)

ARG NODE_VERSION=22

# ---- build: compile TypeScript and the native SQLite addon ----
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 builds from source when no prebuilt binary fits.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY plugins ./plugins
COPY routes ./routes
COPY public ./public
RUN npm run build && npm prune --omit=dev

# ---- run: production dependencies and the compiled server, as a non-root user ----
FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATABASE_URL=/data/parley.db
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/public ./public
COPY --chown=node:node package.json ./
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Exec form: node is PID 1 and gets SIGTERM itself; close-with-grace handles it
# (sockets closed with 1012, in-flight frames stored, the store closed).
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/server.js"]
