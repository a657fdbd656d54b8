// Builds the dashboard into dist/, which the gateway serves at `/` (services/gateway/src/dashboard.ts).
// Everything is bundled: the page loads nothing from the internet.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1024 },
  // `pnpm --filter @tunemesh/dashboard dev` against a gateway on :4000 (HTTP and WebSocket on /graphql).
  server: { proxy: { '/graphql': { target: 'http://127.0.0.1:4000', ws: true } } },
});
