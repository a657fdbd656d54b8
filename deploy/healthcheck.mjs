// grpc.health.v1 probe for docker-compose (Kubernetes has native gRPC probes): exits 0 when the service on
// 127.0.0.1:$PORT answers SERVING. Copied into each image as /app/healthcheck.mjs: node healthcheck.mjs
import { checkHealth, openChannel } from '@tunemesh/kit';

const channel = openChannel(`127.0.0.1:${process.env.PORT}`);
const result = await checkHealth(channel.channel, { component: 'healthcheck', deadlineMs: 2_000 });
channel.close();
if (result.status !== 'SERVING') console.error(`${result.status}${result.error ? `: ${result.error}` : ''}`);
process.exit(result.status === 'SERVING' ? 0 : 1);
