# The Governor service for Cloud Run: `governor serve --backend gcp`.
#
# Node 24 runs the TypeScript sources as they are (type stripping), so there is
# no build step and no devDependency at run time: TypeScript, vitest, oxlint,
# fast-check, autocannon and the `node` package are for development only.
# What the service imports at run time is all in `dependencies`: fastify,
# pino, prom-client, standardwebhooks, zod, xstate, canonicalize, tar and the
# three Google Cloud clients (@google-cloud/firestore, pubsub, storage);
# SQLite is Node's own node:sqlite.
FROM node:24-slim

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    GOVERNOR_DATA_DIR=/var/lib/governor

WORKDIR /app

# Production dependencies only, exactly as locked. The one install script among
# them (protobufjs's postinstall) only prints advice about version ranges.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

COPY src ./src
COPY governors ./governors
# Policy documents pushed (if new or changed) when the service starts.
COPY policies ./policies

# The data directory holds the safe-mode spool and archives being exported.
RUN mkdir -p /var/lib/governor && chown node:node /var/lib/governor
USER node

EXPOSE 8080
CMD ["node", "--expose-gc", "src/cli/main.ts", "serve", "--backend", "gcp"]
