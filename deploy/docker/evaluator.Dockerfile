# The evaluator service image. Build from the repository root:
#   docker build -f deploy/docker/evaluator.Dockerfile -t tunemesh/evaluator:0.1.0 .

# Stage 1 installs the workspace and compiles TypeScript; `pnpm deploy` then writes only this service, its
# workspace packages (built) and its production dependencies to /out. Stage 2 is that folder on a slim Node.

FROM node:20-bookworm-slim AS build
ENV ONNXRUNTIME_NODE_INSTALL=${ONNXRUNTIME_NODE_INSTALL:-skip}
RUN corepack enable && corepack prepare pnpm@10.34.8 --activate
WORKDIR /src
COPY . .
RUN pnpm install --frozen-lockfile
RUN pnpm exec tsc -b tsconfig.build.json
RUN pnpm --filter @tunemesh/evaluator deploy --prod --legacy /out
COPY deploy/healthcheck.mjs /out/healthcheck.mjs

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /out /app
# Stores and mounted volumes live under /var/lib/tunemesh, owned by the unprivileged user.
RUN mkdir -p /var/lib/tunemesh && chown node:node /var/lib/tunemesh
USER node
EXPOSE 50053
CMD ["node", "dist/main.js"]
