# syntax=docker/dockerfile:1
# CI builds and starts this image where a container engine runs, and rehearses it instruction by
# instruction where none does (scripts/image-rehearsal.ts, test/e2e/image.test.ts): keep its RUN
# steps to what the rehearsal knows, or teach it.
# Build stage: install everything, compile TypeScript to dist/.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# the drivers (.dockerignore leaves out connectors/sailpoint-isc, a package of its own that the
# root build excludes too)
COPY connectors ./connectors
# the web console (npm ci's prepare script ran before ui/ was here): built into dist/ui
COPY ui ./ui
RUN npm run build && npm run build:ui && npm prune --omit=dev

# Runtime stage: production dependencies and the compiled code only, as a non-root user.
FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    LOCKSTEP_CONFIG=/app/lockstep.yaml \
    LOCKSTEP_DATA_DIR=/var/lib/lockstep \
    PORT=8080
WORKDIR /app
RUN groupadd --system lockstep && useradd --system --gid lockstep --home /app lockstep \
    && mkdir -p /var/lib/lockstep /etc/lockstep /app/data && chown lockstep:lockstep /var/lib/lockstep /app/data
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY mappings ./mappings
# the example configuration (embedded simulator, example mappings and HR export); mount your own
# and point LOCKSTEP_CONFIG at it
COPY lockstep.yaml ./lockstep.yaml
USER lockstep
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["serve"]
