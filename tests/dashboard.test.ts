// The dashboard in a real browser (playwright-core driving Debian's Chromium, headless, background networking
// off) against the real mesh: nats-server, the dataset, trainer and evaluator services, an in-process trainer
// node training a tiny model for real, and the gateway serving the built dashboard at `/` with API keys.
// Sign in with a key → register the base model → upload a dataset → start a LoRA job from the generated form →
// the loss curve gains points while the job runs → the job succeeds → its automatic evaluation opens.
// Then samples side by side, the playground, a merge, the live job list and cancelling. A viewer key sees no write actions. Screenshots of the main pages go to docs/dashboard/ with TUNEMESH_SCREENSHOTS=1.
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyStore } from '../services/gateway/src/auth/key-store.js';
import type { GatewayHandle } from '../services/gateway/src/index.js';
import { findOrInstallChromium } from './dashboard/chromium.js';
import { repoRoot as root, startTestMesh, type TestMesh } from './support/mesh.js';

const dashboardDir = join(root, 'apps/dashboard');
// The README's screenshots are refreshed only on request (TUNEMESH_SCREENSHOTS=1), so a test run leaves the tree clean.
const screenshots =
  process.env.TUNEMESH_SCREENSHOTS === '1' ? join(root, 'docs/dashboard') : join(tmpdir(), 'tunemesh-dashboard-shots');
const browserFound = findOrInstallChromium();
if (browserFound.reason !== undefined) console.warn(`tests/dashboard.test.ts is skipped: ${browserFound.reason}`);
// Enough steps that the job runs for a few seconds on the tiny model, so the page is seen while it trains.
const STEPS = 120;
const EVAL_EVERY = 20;

let mesh: TestMesh<'dataset' | 'trainer' | 'evaluator' | 'gateway'>;
let tmp: string;
let gateway: GatewayHandle;
let browser: Browser;
let origin: string;
let adminKey: string;
let viewerKey: string;

/** Newest modification time under a directory (the dashboard's sources), to tell a stale build. */
async function newest(dir: string): Promise<number> {
  let latest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? await newest(path) : (await stat(path)).mtimeMs);
  }
  return latest;
}

/** `make test` builds first; a bare `vitest run` builds the dashboard here when its files are missing or stale. */
async function ensureDashboardBuilt(): Promise<void> {
  const built = await stat(join(dashboardDir, 'dist/index.html')).catch(() => undefined);
  if (built && built.mtimeMs >= (await newest(join(dashboardDir, 'src')))) return;
  execFileSync('pnpm', ['--filter', '@tunemesh/dashboard', 'run', 'build'], { cwd: root, stdio: 'pipe' });
}

beforeAll(async () => {
  if (browserFound.path === undefined) return;
  await ensureDashboardBuilt();
  mesh = await startTestMesh({
    name: 'tm-dashboard-',
    services: ['dataset', 'trainer', 'evaluator', 'gateway'],
    // The dataset service asks the trainer for a base model's tokenizer, and the trainer streams from the dataset
    // service: the trainer's port is chosen first so each can be told where the other is.
    datasetAsksTrainer: true,
    node: { nodeId: 'node-a', heartbeatMs: 500, threads: 1 },
    prepare: async ({ tmp }) => {
      const keys = new KeyStore(join(tmp, 'keys.json'));
      adminKey = keys.create('admin', 'dashboard test admin').token;
      viewerKey = keys.create('viewer', 'dashboard test viewer').token;
    },
    env: ({ tmp }) => ({ gateway: { GATEWAY_KEYS_FILE: join(tmp, 'keys.json') } }),
  });
  ({ tmp, gateway } = mesh);
  origin = `http://127.0.0.1:${gateway.port}`;
  browser = await chromium.launch({
    executablePath: browserFound.path,
    headless: true,
    // Root in a container has no user namespaces for Chromium's sandbox; nothing here is untrusted content.
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-dev-shm-usage',
      '--no-first-run',
    ],
  });
  await mkdir(screenshots, { recursive: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await mesh?.close();
});

async function signIn(page: Page, key: string): Promise<void> {
  await page.goto(`${origin}/`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('viewer').waitFor();
}

/** Waits for `selector`; when the page shows an error instead (or nothing in time), that error is the message. */
async function waitOrExplain(page: Page, selector: string, timeout = 30_000): Promise<void> {
  const wanted = page.locator(selector).first();
  try {
    await page.locator(`${selector}, p.error`).first().waitFor({ timeout });
  } catch {
    // Neither appeared: the message below says so.
  }
  if (await wanted.isVisible()) return;
  const shown = await page.locator('.error').allTextContents();
  await page.screenshot({ path: join(tmp, 'failure.png') }).catch(() => {});
  throw new Error(`${selector} did not appear at ${page.url()}; the page shows: ${shown.join(' | ') || 'no error'}`);
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

const title = browserFound.path
  ? 'dashboard in Chromium: dataset → LoRA job with a live curve → evaluation'
  : `dashboard in Chromium (skipped: ${browserFound.reason})`;

describe.skipIf(browserFound.path === undefined)('dashboard', () => {
  it(title, async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    // Offline: every request the page makes goes to the gateway's origin (no CDN, no fonts, no telemetry).
    const foreign: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith(origin) && !req.url().startsWith(origin.replace('http', 'ws'))) foreign.push(req.url());
    });

    await signIn(page, adminKey);
    expect(await page.getByTestId('viewer').getAttribute('data-role')).toBe('admin');

    // Register the tiny base model (an admin action).
    await page.goto(`${origin}/#/models`);
    await page.locator('#reg-name').fill('tiny');
    await page.locator('#reg-path').fill(join(tmp, 'models', 'tiny'));
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByTestId('base-models').getByText('qwen2').waitFor();

    // Upload a chat dataset with the model's tokenizer, so it gets token statistics and a preview.
    await page.goto(`${origin}/#/datasets`);
    await page.locator('#import-name').fill('chat');
    await page.locator('#import-file').setInputFiles(join(tmp, 'data', 'chat.jsonl'));
    await page.locator('#import-format').selectOption('CHAT');
    await page.locator('#import-split').fill('0.2');
    await page.locator('#import-seed').fill('42');
    await page.locator('#import-tokenizer').selectOption({ label: 'tiny' });
    await page.getByRole('button', { name: 'Import' }).click();
    await waitOrExplain(page, 'h2 [data-status="READY"]');
    await page.getByTestId('histogram-train').waitFor();
    await page.locator('[data-testid="preview"] mark.loss').first().waitFor();
    await shot(page, 'dataset');

    // Pasted JSONL with a broken line: the import fails and the report names the line and what is wrong.
    await page.goto(`${origin}/#/datasets`);
    await page.locator('#import-name').fill('broken');
    await page.getByLabel('Paste JSONL').check();
    await page
      .locator('#import-jsonl')
      .fill(
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n{"messages": [\n',
      );
    await page.getByRole('button', { name: 'Import' }).click();
    await waitOrExplain(page, 'h2 [data-status="FAILED"]');
    const finding = page.getByTestId('findings').locator('tbody tr').first();
    expect(await finding.locator('td').nth(2).textContent()).toBe('2'); // the line
    expect(await finding.locator('td').nth(1).textContent()).toBe('MALFORMED_RECORD');

    // New job from the form the `methods` query generates: LoRA, r 4, no dropout, a few dozen steps.
    await page.goto(`${origin}/#/jobs/new`);
    await page.locator('#job-method').selectOption('lora');
    await expect.poll(() => page.locator('#method-r').inputValue()).toBe('8'); // the trainer's default, shown
    await page.locator('#method-r').fill('0');
    await page.getByText('r must be at least 1').waitFor(); // validated from the schema before sending
    await page.locator('#method-r').fill('4');
    await page.locator('#method-dropout').fill('0');
    await page.locator('#hp-maxSteps').fill(String(STEPS));
    await page.locator('#hp-learningRate').fill('0.001');
    await page.locator('#hp-batchSize').fill('4');
    await page.locator('#hp-maxSeqLength').fill('64');
    await page.locator('#hp-evalEverySteps').fill(String(EVAL_EVERY));
    await page.locator('#job-name').fill('dashboard-lora');
    await shot(page, 'new-job');
    await page.getByRole('button', { name: 'Start job' }).click();
    await waitOrExplain(page, '[data-testid="loss-chart"]');
    const jobId = decodeURIComponent(page.url().split('#/jobs/')[1] ?? '');
    expect(jobId).not.toBe('');

    // The curve grows while the job runs: sample the point count and the status together.
    const chart = page.getByTestId('loss-chart');
    const status = page.locator('h2 [data-status]');
    const whileRunning = new Set<number>();
    const deadline = Date.now() + 90_000;
    let last = '';
    let shotWhileRunning = false;
    while (Date.now() < deadline) {
      const [points, now] = await Promise.all([chart.getAttribute('data-points'), status.getAttribute('data-status')]);
      last = now ?? '';
      if (last === 'RUNNING' && Number(points) > 0) whileRunning.add(Number(points));
      if (whileRunning.size === 3 && !shotWhileRunning) {
        shotWhileRunning = true;
        await shot(page, 'job-running');
      }
      if (last === 'SUCCEEDED' || last === 'FAILED' || last === 'CANCELLED') break;
      await page.waitForTimeout(50);
    }
    expect(last, `the page shows: ${(await page.locator('.error').allTextContents()).join(' | ')}`).toBe('SUCCEEDED');
    expect(whileRunning.size, `point counts seen while RUNNING: ${[...whileRunning]}`).toBeGreaterThanOrEqual(2);
    expect(Number(await chart.getAttribute('data-points'))).toBe(STEPS);
    expect(Number(await page.getByTestId('lr-chart').getAttribute('data-points'))).toBe(STEPS);
    // Validation loss at every EVAL_EVERY steps, drawn beside the training loss.
    expect(JSON.parse((await chart.getAttribute('data-series')) ?? '{}')).toEqual({
      'train loss': STEPS,
      'validation loss': STEPS / EVAL_EVERY,
    });
    expect(await page.getByTestId('tokens-per-second').textContent()).toMatch(/^\d/);
    await page.getByTestId('job-step').getByText(`${STEPS} / ${STEPS}`).waitFor();

    // The history is replayed when the page opens again after the job ended.
    await page.reload();
    await expect.poll(() => chart.getAttribute('data-points'), { timeout: 15_000 }).toBe(String(STEPS));

    // The evaluator evaluates the finished job on its own; its evaluation opens from the job page.
    const evaluationLink = page.getByTestId('job-evaluations').locator('a').first();
    await evaluationLink.waitFor({ timeout: 60_000 });
    await shot(page, 'job');
    await evaluationLink.click();
    await waitOrExplain(page, '[data-testid="evaluation"] h2 [data-status="SUCCEEDED"]', 60_000);
    const loss = await page.getByTestId('metrics').locator('[data-metric="LOSS"]').textContent();
    expect(Number(loss)).toBeGreaterThan(0);
    // The base model's baseline beside the adapter (the evaluator evaluates the base once per dataset).
    await expect
      .poll(() => page.getByTestId('metrics').locator('tbody tr').first().locator('td').nth(2).textContent(), {
        timeout: 15_000,
      })
      .toMatch(/^\d/);
    // Sample outputs of base and adapter side by side, generated by the evaluator.
    await page.getByRole('button', { name: 'Generate samples' }).click();
    await waitOrExplain(page, '[data-testid="samples"] tbody tr', 60_000);
    expect(await page.getByTestId('samples').locator('tbody tr').count()).toBe(3);
    await shot(page, 'evaluation');

    // The playground generates with the job's adapter; the job page merges it into its base.
    await page.goto(`${origin}/#/playground`);
    await page.locator('#pg-model').selectOption(`job:${jobId}`);
    await page.locator('#pg-prompt').fill('What is 2 plus 2?');
    await page.locator('#pg-max').fill('8');
    await page.getByRole('button', { name: 'Generate' }).click();
    await waitOrExplain(page, '[data-testid="generation"]', 60_000);
    await shot(page, 'playground');
    await page.goto(`${origin}/#/jobs/${jobId}`);
    await page.getByRole('button', { name: 'Merge into base' }).click();
    await waitOrExplain(page, '[data-testid="artifact"]', 60_000);
    await page.getByTestId('artifact').getByText('MERGED_MODEL').waitFor();

    // The job list shows the job as it is now.
    await page.goto(`${origin}/#/jobs`);
    await page.locator(`[data-job="${jobId}"] [data-status="SUCCEEDED"]`).waitFor();
    await shot(page, 'jobs');
    await page.goto(`${origin}/#/evaluations`);
    await page.getByTestId('leaderboard').locator('tbody tr').first().waitFor();
    await shot(page, 'leaderboard');

    // The job list follows jobStatusChanged: a job cancelled elsewhere turns CANCELLED in the open list.
    const longJob = async (name: string): Promise<string> => {
      await page.goto(`${origin}/#/jobs/new`);
      await expect.poll(() => page.locator('#method-r').inputValue()).toBe('8');
      await page.locator('#hp-maxSteps').fill('100000');
      await page.locator('#hp-maxSeqLength').fill('64');
      await page.locator('#job-name').fill(name);
      await page.getByRole('button', { name: 'Start job' }).click();
      await waitOrExplain(page, 'h2 [data-status="RUNNING"]');
      return decodeURIComponent(page.url().split('#/jobs/')[1] ?? '');
    };
    const elsewhere = await longJob('dashboard-cancel-elsewhere');
    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.locator(`[data-job="${elsewhere}"] [data-status="RUNNING"]`).waitFor();
    await page.evaluate(() => {
      (globalThis as unknown as { stillThisPage: boolean }).stillThisPage = true;
    });
    const cancelled = await fetch(`${origin}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` },
      body: JSON.stringify({
        query: 'mutation($id: ID!) { cancelFineTuneJob(id: $id) { id } }',
        variables: { id: elsewhere },
      }),
    });
    expect(cancelled.status).toBe(200);
    await page.locator(`[data-job="${elsewhere}"] [data-status="CANCELLED"]`).waitFor({ timeout: 15_000 });
    expect(await page.evaluate(() => (globalThis as unknown as { stillThisPage?: boolean }).stillThisPage)).toBe(true);

    // A running job is stopped from its own page.
    await longJob('dashboard-cancel');
    await expect.poll(() => chart.getAttribute('data-points').then(Number)).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Cancel job' }).click();
    await waitOrExplain(page, 'h2 [data-status="CANCELLED"]');
    expect(await page.getByRole('button', { name: 'Cancel job' }).count()).toBe(0);

    expect(pageErrors).toEqual([]);
    expect(foreign).toEqual([]);
    await context.close();

    // A viewer key reads everything but is offered no write action.
    const viewerContext = await browser.newContext();
    const viewerPage = await viewerContext.newPage();
    await signIn(viewerPage, viewerKey);
    expect(await viewerPage.getByTestId('viewer').getAttribute('data-role')).toBe('viewer');
    await viewerPage.getByTestId('datasets-table').getByRole('link', { name: 'chat' }).waitFor();
    expect(await viewerPage.getByTestId('import-form').count()).toBe(0);
    await viewerPage.goto(`${origin}/#/jobs/${jobId}`);
    await viewerPage.locator('h2 [data-status="SUCCEEDED"]').waitFor();
    expect(await viewerPage.getByRole('button', { name: /Merge|Export|Cancel/ }).count()).toBe(0);
    await viewerContext.close();
  }, 150_000);
});
