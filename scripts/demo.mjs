// `make demo`: starts the mesh, checks through the gateway's GraphQL `health` query that every service is
// healthy, prints a summary and stops everything. (The end-to-end fine-tuning demo replaces this with issue 10.)
import { startMesh } from './mesh.mjs';

const HEALTH_QUERY = '{ health { status components { name status latencyMs error } } }';

const started = Date.now();
let mesh;
try {
  mesh = await startMesh({ logLevel: 'warn', log: (line) => console.log(`demo: ${line}`) });
} catch (err) {
  console.error(`demo: ${err.message}`);
  process.exit(1);
}

let ok = false;
try {
  const res = await fetch(mesh.gatewayUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: HEALTH_QUERY }),
  });
  const body = await res.json();
  const health = body.data?.health;
  if (!health) throw new Error(`gateway answered without health: ${JSON.stringify(body.errors ?? body)}`);
  console.log(`\ntunemesh mesh health through ${mesh.gatewayUrl}:`);
  for (const c of health.components) {
    const latency = c.latencyMs == null ? '' : `${c.latencyMs.toFixed(1)} ms`;
    console.log(`  ${c.name.padEnd(10)} ${c.status.padEnd(12)} ${latency.padStart(9)}${c.error ? `  ${c.error}` : ''}`);
  }
  ok = health.status === 'SERVING';
  console.log(
    `\n${ok ? 'all services healthy' : 'NOT all services healthy'} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
} catch (err) {
  console.error(`demo: ${err.message}`);
} finally {
  await mesh.stop();
}
process.exit(ok ? 0 : 1);
