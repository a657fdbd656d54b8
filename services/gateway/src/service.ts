// The gateway: Apollo Server (HTTP) and graphql-ws (WebSocket) on one port and path, one executable schema,
// both drained on shutdown; gRPC clients to the three services; a NATS connection (health now, subscriptions
// with issue 9).
import { createServer, type IncomingMessage } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { context as otelContext, SpanKind, trace } from '@opentelemetry/api';
import { connectNats, createLogger, declareStreams, type Logger, StartupError, tracer } from '@tunemesh/kit';
import { STREAMS } from '@tunemesh/proto';
import {
  type ExecutionArgs,
  execute,
  GraphQLError,
  type GraphQLFormattedError,
  getOperationAST,
  specifiedRules,
  validate,
} from 'graphql/index.js';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { type AuthState, createAuthenticator } from './auth/authenticate.js';
import { guardRootFields } from './auth/guard.js';
import { KeyStore } from './auth/key-store.js';
import { createMeshClients } from './clients.js';
import type { GatewayConfig } from './config.js';
import type { GatewayContext } from './context.js';
import { dashboardRoutes, defaultDashboardDir } from './dashboard.js';
import { formatError } from './errors.js';
import { GRAPHQL_PATH, graphQLRequestHandler } from './http.js';
import { serveIde } from './ide.js';
import { RateLimiter } from './limits/rate-limit.js';
import { limitRules } from './limits/rules.js';
import { createLoaders } from './loaders.js';
import { createMetrics } from './metrics.js';
import { resolvers } from './resolvers/index.js';
import { buildExecutableSchema, loadTypeDefs } from './schema.js';
import { operationSpanPlugin } from './tracing.js';

export interface GatewayHandle {
  port: number;
  /** http://host:port/graphql */
  url: string;
  /** ws://host:port/graphql */
  wsUrl: string;
  stop(): Promise<void>;
}

function listen(server: ReturnType<typeof createServer>, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(
          new StartupError(
            `gateway: port ${port} is already in use on ${host}: stop the process using it or set PORT to a free port`,
          ),
        );
      } else if (err.code === 'EACCES') {
        reject(new StartupError(`gateway: not allowed to listen on port ${port}: use a port above 1023`));
      } else {
        reject(new StartupError(`gateway: cannot listen on ${host}:${port}: ${err.message}`));
      }
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

/** Rate-limit bucket: the API key, or the client address for requests without a valid key. */
function rateKey(auth: AuthState, address: string | undefined): string {
  return auth.caller ? `key:${auth.caller.keyId}` : `address:${address ?? 'unknown'}`;
}

export async function start(config: GatewayConfig, options: { logger?: Logger } = {}): Promise<GatewayHandle> {
  const logger = options.logger ?? createLogger('gateway', config.logLevel);
  const schema = guardRootFields(buildExecutableSchema(loadTypeDefs(), resolvers));
  const nats = await connectNats({ servers: config.natsUrl, name: 'tunemesh-gateway', logger });
  // Subscriptions read the event streams; declaring them (idempotently, as every service does) lets the gateway
  // start before the services that publish into them.
  await declareStreams(nats.jsm, [STREAMS.jobEvents, STREAMS.evaluationEvents]);
  const clients = createMeshClients(config);
  const authenticator = createAuthenticator({ devMode: config.devMode, store: new KeyStore(config.keysFile) });
  if (config.devMode) {
    logger.warn(
      '*** GATEWAY_DEV_MODE is on: NO AUTHENTICATION, every caller is admin. Never use this outside a laptop. ***',
    );
  }
  const serveDashboard = dashboardRoutes(config.dashboardDir === '' ? defaultDashboardDir() : config.dashboardDir);
  const limiter = new RateLimiter(config.rateLimitPerMinute);
  const rules = limitRules({ maxDepth: config.maxDepth, maxCost: config.maxCost, introspection: config.introspection });
  const makeContext = async (auth: AuthState): Promise<GatewayContext> => ({
    clients,
    nats,
    loaders: createLoaders(clients),
    auth,
  });

  const metrics = createMetrics(clients, nats.nc);
  // Every error leaving the gateway passes here (both transports), so this is where errors are counted by code.
  const formatAndCount = (formatted: GraphQLFormattedError): GraphQLFormattedError => {
    const out = formatError(formatted);
    metrics.errors.inc({ code: String(out.extensions?.code ?? 'INTERNAL') });
    return out;
  };
  // Open subscriptions per WebSocket connection, so a closed socket takes its subscriptions off the gauge.
  const openSubscriptions = new WeakMap<object, Set<string>>();

  const httpServer = createServer();
  const wsServer = new WebSocketServer({ server: httpServer, path: GRAPHQL_PATH });
  // biome-ignore lint/correctness/useHookAtTopLevel: graphql-ws's useServer is not a React hook
  const wsServerCleanup = useServer<Record<string, unknown>, Record<string, unknown>>(
    {
      schema,
      context: (ctx) => makeContext(authenticator.fromConnectionParams(ctx.connectionParams)),
      validate: (validationSchema, document) => validate(validationSchema, document, [...specifiedRules, ...rules]),
      // Every subscribe is one operation for the rate limit, like one HTTP request.
      onSubscribe: (ctx) => {
        const auth = authenticator.fromConnectionParams(ctx.connectionParams);
        const address = (ctx.extra as { request?: IncomingMessage }).request?.socket.remoteAddress;
        const retryAfter = limiter.take(rateKey(auth, address));
        if (retryAfter === 0) return undefined;
        return [
          new GraphQLError(`rate limit exceeded: retry in ${retryAfter}s`, {
            extensions: { code: 'UNAVAILABLE', reason: 'RATE_LIMITED', retryAfterSeconds: retryAfter },
          }),
        ];
      },
      // Each WebSocket operation gets its own SERVER span, like an HTTP request.
      execute: (args: ExecutionArgs) => {
        const span = tracer('gateway').startSpan(`graphql-ws ${args.operationName ?? 'operation'}`, {
          kind: SpanKind.SERVER,
          attributes: { 'graphql.transport': 'websocket' },
        });
        return otelContext.with(trace.setSpan(otelContext.active(), span), async () => {
          try {
            return await execute(args);
          } finally {
            span.end();
          }
        });
      },
      onOperation: (ctx, id, _payload, args, result) => {
        const operation = getOperationAST(args.document, args.operationName)?.operation ?? 'unknown';
        metrics.requests.inc({ transport: 'websocket', operation });
        if (operation === 'subscription' && Symbol.asyncIterator in Object(result)) {
          const ids = openSubscriptions.get(ctx) ?? new Set<string>();
          openSubscriptions.set(ctx, ids);
          ids.add(id);
          metrics.subscriptions.inc();
        }
        return undefined;
      },
      onComplete: (ctx, id) => {
        if (openSubscriptions.get(ctx)?.delete(id)) metrics.subscriptions.dec();
      },
      onClose: (ctx) => {
        const ids = openSubscriptions.get(ctx);
        if (ids) metrics.subscriptions.dec(ids.size);
        openSubscriptions.delete(ctx);
      },
      onError: (_ctx, _id, _payload, errors) =>
        errors.map((e) => formatAndCount(e.toJSON())) as GraphQLFormattedError[],
      onNext: (_ctx, _id, _payload, _args, result) =>
        'errors' in result && result.errors
          ? { ...result, errors: result.errors.map((e) => formatAndCount(e.toJSON())) }
          : result,
    },
    wsServer,
  );

  const apollo = new ApolloServer<GatewayContext>({
    schema,
    introspection: config.introspection,
    validationRules: rules,
    includeStacktraceInErrorResponses: false,
    // The process runner owns SIGTERM/SIGINT (stop everything, flush telemetry, exit 0); Apollo's own handler
    // would stop only Apollo and re-raise the signal.
    stopOnTerminationSignals: false,
    formatError: (formatted) => formatAndCount(formatted),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: config.shutdownTimeoutMs }),
      // Apollo's landing page loads from a CDN; machines here often have no internet: ide.ts serves GraphiQL locally.
      ApolloServerPluginLandingPageDisabled(),
      operationSpanPlugin<GatewayContext>(),
      {
        async requestDidStart() {
          return {
            async willSendResponse({ operation }) {
              metrics.requests.inc({ transport: 'http', operation: operation?.operation ?? 'invalid' });
            },
          };
        },
      },
      {
        async serverWillStart() {
          return {
            async drainServer() {
              await wsServerCleanup.dispose();
            },
          };
        },
      },
    ],
  });

  try {
    await apollo.start();
    httpServer.on(
      'request',
      graphQLRequestHandler(
        apollo,
        {
          makeContext: (req) => makeContext(authenticator.fromHeader(req.headers.authorization)),
          admit: (req) =>
            limiter.take(rateKey(authenticator.fromHeader(req.headers.authorization), req.socket.remoteAddress)),
          maxBodyBytes: config.maxBodyBytes,
          maxUploadBytes: config.maxUploadBytes,
          extraRoutes: async (req, res, url) => {
            if (config.ide && serveIde(req, res, url)) return true;
            if (config.dashboard && (await serveDashboard(req, res, url))) return true;
            if (url.pathname !== '/metrics') return false;
            res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(await metrics.registry.metrics());
            return true;
          },
        },
        logger,
      ),
    );
    const port = await listen(httpServer, config.host, config.port);
    const dialHost = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    logger.info({ port, path: GRAPHQL_PATH }, 'gateway listening (HTTP and WebSocket)');
    let stopping: Promise<void> | undefined;
    return {
      port,
      url: `http://${dialHost}:${port}${GRAPHQL_PATH}`,
      wsUrl: `ws://${dialHost}:${port}${GRAPHQL_PATH}`,
      stop() {
        stopping ??= (async () => {
          // apollo.stop() drains HTTP (DrainHttpServer) and WebSocket (dispose) together, then we close the rest.
          await apollo.stop();
          metrics.close();
          clients.close();
          await nats.close();
          logger.info('gateway stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    await apollo.stop().catch(() => {});
    metrics.close();
    wsServer.close();
    clients.close();
    await nats.close();
    throw err;
  }
}
