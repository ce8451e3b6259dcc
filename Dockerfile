# syntax=docker/dockerfile:1
# Node.js 24 (Active LTS), the exact release CI tests with (.ci/node/package.json pins node24 to it;
# test/deploy-files.test.ts keeps the two equal). For a release, add the image's @sha256 digest.
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# Build stage: compile TypeScript with the dev dependencies.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# No install scripts: nothing mailpush needs compiles at install time (the embedded store is node:sqlite).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.pwa.json ./
COPY src ./src
COPY test ./test
# The web app (pwa/) is built into dist/pwa by the same npm run build.
COPY pwa ./pwa
RUN npm run build

# Runtime stage: production dependencies and the compiled code only, as an unprivileged user.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# jemalloc instead of glibc's malloc: an idle TLS connection then keeps about 6 KiB less of the
# holes its handshake leaves (docs/benchmarks.md, "An allocator that packs TLS state"). Linked to
# one path on every architecture; the worker logs which allocator it runs on. Its background thread
# returns freed pages to the system while the process is idle (src/observability/malloc.ts).
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 && rm -rf /var/lib/apt/lists/* \
  && ln -s "$(dpkg -L libjemalloc2 | grep '/libjemalloc.so.2$')" /usr/local/lib/libjemalloc.so.2
ENV LD_PRELOAD=/usr/local/lib/libjemalloc.so.2 MALLOC_CONF=background_thread:true
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/pwa ./dist/pwa
RUN ln -s /app/dist/src/cli.js /usr/local/bin/mailpush && chmod +x /app/dist/src/cli.js \
  && mkdir -p /data && chown node:node /data && chmod 700 /data
# `mailpush all` without REDIS_URL keeps its embedded store here (the only place the user may write).
ENV DATA_DIR=/data
VOLUME ["/data"]
USER node
EXPOSE 8080
ENV HOST=0.0.0.0 PORT=8080
HEALTHCHECK --interval=15s --timeout=3s --retries=3 CMD node -e "fetch('http://127.0.0.1:'+(process.env.METRICS_PORT||process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["mailpush"]
CMD ["all"]
