// Finds Debian's Chromium for the dashboard's browser test, installing the `chromium` package through apt when
// it is missing and this process may (root with apt-get). When it cannot, the reason is returned so the test is
// reported as skipped with it, never passed silently.
import { execFileSync, spawnSync } from 'node:child_process';

export type ChromiumLookup = { path: string; reason?: undefined } | { path?: undefined; reason: string };

function which(name: string): string | undefined {
  const r = spawnSync('which', [name], { encoding: 'utf8' });
  const path = r.status === 0 ? r.stdout.trim() : '';
  return path === '' ? undefined : path;
}

export function findOrInstallChromium(): ChromiumLookup {
  const found = which('chromium');
  if (found) return { path: found };
  if (process.getuid?.() !== 0) {
    return { reason: 'chromium is not installed and this user cannot install it: run `sudo apt-get install chromium`' };
  }
  if (!which('apt-get')) return { reason: 'chromium is not installed and there is no apt-get to install it with' };
  const install = () =>
    execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'chromium'], {
      stdio: 'pipe',
      timeout: 600_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  try {
    try {
      install();
    } catch {
      execFileSync('apt-get', ['update', '-q'], { stdio: 'pipe', timeout: 300_000 });
      install();
    }
  } catch (err) {
    const detail = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return { reason: `chromium is not installed and \`apt-get install chromium\` failed: ${detail}` };
  }
  const installed = which('chromium');
  return installed ? { path: installed } : { reason: 'apt-get installed chromium but `which chromium` finds nothing' };
}
