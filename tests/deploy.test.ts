// deploy/ cannot run here (no Docker engine, no cluster), so it is checked by parsing: the compose file and every
// Kubernetes object are well-formed (objects against the Kubernetes API's own schemas), every environment
// variable a container gets is one its process reads and holds a value its config schema accepts, the settings
// whose defaults only fit a laptop (127.0.0.1 peers, /tmp stores, SQLite) are set, images and ports agree between
// compose, Kubernetes and the services' defaults, and the Dockerfiles are multi-stage, copy paths that exist and
// end as a non-root user.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DockerfileParser } from 'dockerfile-ast';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Namespace, PersistentVolumeClaim, Service } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { type ConfigSpec, loadConfig } from '../packages/kit/src/index.js';
import { datasetConfigSpec } from '../services/dataset/src/config.js';
import { evaluatorConfigSpec } from '../services/evaluator/src/config.js';
import { gatewayConfigSpec } from '../services/gateway/src/config.js';
import { trainerConfigSpec } from '../services/trainer/src/config.js';
import { nodeConfigSpec } from '../services/trainer/src/node-config.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const K8S = join(DEPLOY, 'kubernetes');

type Component = 'dataset' | 'trainer' | 'trainer-node' | 'evaluator' | 'gateway';
const SPECS: Record<Component, ConfigSpec> = {
  dataset: datasetConfigSpec,
  trainer: trainerConfigSpec,
  'trainer-node': nodeConfigSpec,
  evaluator: evaluatorConfigSpec,
  gateway: gatewayConfigSpec,
};
/** The source each container command runs (dist/X.js is built from src/X.ts). */
const PACKAGE_DIR: Record<Component, string> = {
  dataset: 'services/dataset',
  trainer: 'services/trainer',
  'trainer-node': 'services/trainer',
  evaluator: 'services/evaluator',
  gateway: 'services/gateway',
};
const COMPOSE_COMPONENT: Record<string, Component> = {
  dataset: 'dataset',
  trainer: 'trainer',
  'trainer-node-1': 'trainer-node',
  'trainer-node-2': 'trainer-node',
  evaluator: 'evaluator',
  gateway: 'gateway',
};

const varNames = (spec: ConfigSpec) => new Set(Object.values(spec).map((v) => v.name));
const defaultPort = (component: Component): number | undefined => {
  const fallback = Object.values(SPECS[component]).find((v) => v.name === 'PORT')?.fallback;
  return fallback === undefined ? undefined : Number(fallback);
};
/** Variables whose default only fits one machine: a 127.0.0.1 peer, a store under /tmp, the embedded SQLite. */
const mustBeSet = (spec: ConfigSpec) =>
  Object.values(spec)
    .filter(
      (v) =>
        v.name !== 'OTEL_EXPORTER_OTLP_ENDPOINT' &&
        v.fallback !== undefined &&
        (v.fallback.includes('127.0.0.1') || v.fallback.startsWith(tmpdir()) || v.fallback === 'sqlite'),
    )
    .map((v) => v.name);

/** Checks one container's environment against its component's schema; returns the parsed config. */
function checkEnvironment(where: string, component: Component, env: Record<string, string>) {
  const names = varNames(SPECS[component]);
  const unknown = Object.keys(env).filter((k) => !names.has(k));
  expect(unknown, `${where}: variables ${component} does not read`).toEqual([]);
  const missing = mustBeSet(SPECS[component]).filter((k) => env[k] === undefined);
  expect(missing, `${where}: variables whose default only fits a laptop`).toEqual([]);
  expect(env.GATEWAY_DEV_MODE ?? 'false', `${where}: development mode`).toBe('false');
  return loadConfig(SPECS[component], env) as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------------- compose

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  secrets?: string[];
  depends_on?: Record<string, unknown>;
  healthcheck?: { test: string[] };
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
  secrets: Record<string, { file: string }>;
}

const composeText = readFileSync(join(DEPLOY, 'docker-compose.yml'), 'utf8');
const compose = parse(composeText, { merge: true }) as ComposeFile;
/** ${VAR:?message} and ${VAR:-default} as compose would give them, with a value for each required one. */
const interpolate = (value: string) =>
  value.replace(/\$\{([A-Z_]+)(?::[?-]([^}]*))?\}/g, (_, name: string) => `sample-${name.toLowerCase()}`);

describe('deploy/docker-compose.yml', () => {
  it('runs NATS with JetStream, PostgreSQL, the collector, the four services and two trainer nodes', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      [
        'nats',
        'postgres',
        'otel-collector',
        'dataset',
        'trainer',
        'trainer-node-1',
        'trainer-node-2',
        'evaluator',
        'gateway',
      ].sort(),
    );
    expect(compose.services.nats?.command).toContain('-js');
    for (const name of ['trainer-node-1', 'trainer-node-2']) {
      expect(compose.services[name]?.command).toEqual(['node', 'dist/node-main.js']);
    }
  });

  it('gives every tunemesh container only variables its config schema reads, with values it accepts', () => {
    for (const [name, component] of Object.entries(COMPOSE_COMPONENT)) {
      const service = compose.services[name] as ComposeService;
      const env = Object.fromEntries(
        Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]),
      );
      const config = checkEnvironment(`compose ${name}`, component, env);
      if (component !== 'trainer-node') expect(config.port).toBe(defaultPort(component));
    }
    // Two nodes, two identities.
    expect(compose.services['trainer-node-1']?.environment?.TRAINER_NODE_ID).not.toBe(
      compose.services['trainer-node-2']?.environment?.TRAINER_NODE_ID,
    );
  });

  it('points OTLP at the collector, whose config receives OTLP/HTTP there', () => {
    const collector = parse(readFileSync(join(DEPLOY, 'otel-collector.yaml'), 'utf8')) as {
      receivers: { otlp: { protocols: { http: { endpoint: string } } } };
      service: { pipelines: Record<string, { receivers: string[]; exporters: string[] }> };
      exporters: Record<string, unknown>;
    };
    const port = collector.receivers.otlp.protocols.http.endpoint.split(':').at(-1);
    expect(compose.services.gateway?.environment?.OTEL_EXPORTER_OTLP_ENDPOINT).toBe(`http://otel-collector:${port}`);
    expect(collector.service.pipelines.traces?.receivers).toContain('otlp');
    for (const pipeline of Object.values(collector.service.pipelines)) {
      for (const e of pipeline.exporters) expect(collector.exporters).toHaveProperty(e);
    }
    const mount = compose.services['otel-collector']?.volumes?.[0]?.split(':')[0] ?? '';
    expect(existsSync(join(DEPLOY, mount))).toBe(true);
  });

  it('references declared volumes, secrets, services and existing Dockerfiles; publishes the default ports', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0] as string;
        if (!source.startsWith('.')) expect(compose.volumes, `${name} volume ${source}`).toHaveProperty(source);
      }
      for (const secret of service.secrets ?? []) expect(compose.secrets).toHaveProperty(secret);
      for (const dep of Object.keys(service.depends_on ?? {})) expect(compose.services).toHaveProperty(dep);
      if (service.build !== undefined) {
        expect(existsSync(join(DEPLOY, service.build.context, service.build.dockerfile)), name).toBe(true);
        expect(service.build.dockerfile).toBe(`deploy/docker/${name}.Dockerfile`);
      }
    }
    expect(compose.services.gateway?.ports).toEqual([`${defaultPort('gateway')}:${defaultPort('gateway')}`]);
    // The gateway's key file is the mounted secret (compose mounts secret X at /run/secrets/X).
    expect(compose.services.gateway?.environment?.GATEWAY_KEYS_FILE).toBe(
      `/run/secrets/${compose.services.gateway?.secrets?.[0]}`,
    );
  });
});

// ------------------------------------------------------------------------------------------------- kubernetes

// biome-ignore lint/suspicious/noExplicitAny: a parsed manifest, checked by the schema validators below.
type K8sObject = { apiVersion: string; kind: string; metadata: { name: string }; [k: string]: any };
const VALIDATORS: Record<string, (o: K8sObject) => void> = {
  'apps/v1/Deployment': (o) => new Deployment(o).validate(),
  'v1/Service': (o) => new Service(o).validate(),
  'v1/ConfigMap': (o) => new ConfigMap(o).validate(),
  'v1/PersistentVolumeClaim': (o) => new PersistentVolumeClaim(o).validate(),
  'v1/Namespace': (o) => new Namespace(o).validate(),
};

const kustomization = parse(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8')) as {
  resources: string[];
  helmCharts: { name: string; repo: string; version: string; releaseName: string; valuesInline: unknown }[];
  secretGenerator: { name: string; envs?: string[]; files?: string[] }[];
};
const manifestFiles = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
const objects: K8sObject[] = manifestFiles.flatMap((file) =>
  parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((doc) => {
    expect(doc.errors, file).toEqual([]);
    return doc.toJS() as K8sObject;
  }),
);
const ofKind = (kind: string) => objects.filter((o) => o.kind === kind);
const deployment = (name: string) => ofKind('Deployment').find((d) => d.metadata.name === name) as K8sObject;
const container = (name: string) => deployment(name).spec.template.spec.containers[0];
const configMap = ofKind('ConfigMap').find((c) => c.metadata.name === 'tunemesh') as K8sObject;
const secretKeys: Record<string, string> = {
  DATASET_DATABASE_URL: 'postgres://tunemesh:x@db:5432/tunemesh',
  TRAINER_DATABASE_URL: 'postgres://tunemesh:x@db:5432/tunemesh',
  EVALUATOR_DATABASE_URL: 'postgres://tunemesh:x@db:5432/tunemesh',
};

/** The environment a container gets: its envFrom config maps, then env (values, config-map and secret refs). */
function containerEnv(c: K8sObject): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    expect(from.configMapRef?.name).toBe('tunemesh');
    Object.assign(env, configMap.data);
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.valueFrom?.configMapKeyRef) env[e.name] = configMap.data[e.valueFrom.configMapKeyRef.key];
    else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      const generator = kustomization.secretGenerator.find((g) => g.name === ref.name);
      expect(generator, `secret ${ref.name}`).toBeDefined();
      const example = readFileSync(join(K8S, `${generator?.envs?.[0]}.example`), 'utf8');
      expect(example).toMatch(new RegExp(`^${ref.key}=`, 'm'));
      env[e.name] = secretKeys[ref.key] ?? 'x';
    } else if (e.valueFrom?.fieldRef) env[e.name] = 'trainer-node-7c9f-abcde';
  }
  return env;
}

describe('deploy/kubernetes', () => {
  it('lists every manifest in the kustomization, and each object passes the Kubernetes API schema', () => {
    expect([...kustomization.resources].sort()).toEqual([...manifestFiles].sort());
    for (const o of objects) {
      const validate = VALIDATORS[`${o.apiVersion}/${o.kind}`];
      expect(validate, `${o.kind} ${o.metadata.name}: no validator`).toBeDefined();
      expect(() => validate?.(o), `${o.kind} ${o.metadata.name}`).not.toThrow();
    }
  });

  it('takes NATS from its official Helm chart, with JetStream', () => {
    const nats = kustomization.helmCharts.find((c) => c.name === 'nats');
    expect(nats?.repo).toBe('https://nats-io.github.io/k8s/helm/charts/');
    expect(nats?.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(nats?.valuesInline).toMatchObject({ config: { jetstream: { enabled: true } } });
    expect(configMap.data.NATS_URL).toBe(`nats://${nats?.releaseName}:4222`);
  });

  it('gives each container only variables its schema reads, with accepted values, never development mode', () => {
    for (const name of ['dataset', 'trainer', 'trainer-node', 'evaluator', 'gateway'] as const) {
      const config = checkEnvironment(`k8s ${name}`, name, containerEnv(container(name)));
      if (name !== 'trainer-node') expect(config.port).toBe(defaultPort(name));
    }
  });

  it('serves each service on its default port, Service to container, with the image compose builds', () => {
    for (const name of ['dataset', 'trainer', 'evaluator', 'gateway'] as const) {
      const port = defaultPort(name);
      const service = ofKind('Service').find((s) => s.metadata.name === name) as K8sObject;
      expect(service.spec.ports[0].port, name).toBe(port);
      expect(service.spec.selector).toEqual(deployment(name).spec.template.metadata.labels);
      expect(container(name).ports[0].containerPort, name).toBe(port);
      expect(container(name).image, name).toBe(compose.services[name]?.image);
      expect(container(name).command).toEqual(compose.services[name]?.command ?? ['node', 'dist/main.js']);
    }
    // The GPU node runs the trainer image built with CUDA binaries.
    expect(container('trainer-node').image).toBe(`${compose.services.trainer?.image}-cuda12`);
    expect(container('trainer-node').command).toEqual(compose.services['trainer-node-1']?.command);
  });

  it('schedules trainer nodes on GPU machines, one GPU each', () => {
    const pod = deployment('trainer-node').spec.template.spec;
    expect(container('trainer-node').resources.requests['nvidia.com/gpu']).toBe(1);
    expect(container('trainer-node').resources.limits['nvidia.com/gpu']).toBe(1);
    expect(Object.keys(pod.nodeSelector).length).toBeGreaterThan(0);
    expect(containerEnv(container('trainer-node')).TRAINER_NODE_DEVICE).toBe('cuda');
  });

  it('mounts declared claims and secrets; the gateway reads its keys from the gateway-keys Secret', () => {
    const claims = new Set(ofKind('PersistentVolumeClaim').map((p) => p.metadata.name));
    const generated = new Set(kustomization.secretGenerator.map((g) => g.name));
    for (const d of ofKind('Deployment')) {
      const pod = d.spec.template.spec;
      expect(pod.securityContext?.runAsNonRoot, d.metadata.name).toBe(true);
      for (const v of pod.volumes ?? []) {
        if (v.persistentVolumeClaim) expect(claims, d.metadata.name).toContain(v.persistentVolumeClaim.claimName);
        if (v.secret) expect(generated, d.metadata.name).toContain(v.secret.secretName);
      }
    }
    const keysFile = containerEnv(container('gateway')).GATEWAY_KEYS_FILE as string;
    const mount = container('gateway').volumeMounts.find((m: K8sObject) => keysFile.startsWith(`${m.mountPath}/`));
    const volume = deployment('gateway').spec.template.spec.volumes.find((v: K8sObject) => v.name === mount?.name);
    expect(volume?.secret?.secretName).toBe('gateway-keys');
    const keyFileName = keysFile.slice(mount.mountPath.length + 1);
    const generator = kustomization.secretGenerator.find((g) => g.name === 'gateway-keys');
    expect(generator?.files?.[0]?.split('=')[0]).toBe(keyFileName);
    // The evaluator reads adapters where the trainer writes them (same claim, the trainer's artefact layout).
    const evaluator = containerEnv(container('evaluator'));
    expect(evaluator.EVALUATOR_ADAPTER_ROOT).toBe(`${containerEnv(container('trainer')).TRAINER_STORE_DIR}/artefacts`);
  });
});

// ------------------------------------------------------------------------------------------------ Dockerfiles

describe('deploy/docker/*.Dockerfile', () => {
  const services = ['dataset', 'trainer', 'evaluator', 'gateway'] as const;
  it.each(services)('%s: multi-stage, copies existing paths, builds its package, runs as non-root', (name) => {
    const dockerfile = DockerfileParser.parse(readFileSync(join(DEPLOY, 'docker', `${name}.Dockerfile`), 'utf8'));
    const froms = dockerfile.getFROMs();
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const stages = froms.map((f) => f.getBuildStage());
    for (const copy of dockerfile.getCOPYs()) {
      // Flags (--from, --chown) are not arguments in dockerfile-ast.
      const from = copy
        .getFlags()
        .find((f) => f.getName() === 'from')
        ?.getValue();
      const args = copy.getArguments().map((a) => a.getValue());
      if (from !== undefined && from !== null) {
        expect(stages).toContain(from);
        continue;
      }
      for (const source of args.slice(0, -1)) expect(existsSync(join(ROOT, source)), source).toBe(true);
    }
    const instructions = dockerfile.getInstructions();
    const lastFrom = instructions.lastIndexOf(froms.at(-1) as (typeof instructions)[number]);
    const users = instructions.slice(lastFrom).filter((i) => i.getKeyword() === 'USER');
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0']).not.toContain(users.at(-1)?.getArgumentsContent());
    const text = instructions.map((i) => i.getTextContent()).join('\n');
    expect(text).toContain(`pnpm --filter @tunemesh/${name} deploy`);
    const packageName = JSON.parse(readFileSync(join(ROOT, PACKAGE_DIR[name], 'package.json'), 'utf8')).name;
    expect(packageName).toBe(`@tunemesh/${name}`);
    // The command runs dist/<x>.js, compiled from src/<x>.ts of the package.
    const cmd = JSON.parse(dockerfile.getCMDs().at(-1)?.getArgumentsContent() ?? '[]') as string[];
    expect(cmd).toEqual(['node', 'dist/main.js']);
    expect(existsSync(join(ROOT, PACKAGE_DIR[name], 'src/main.ts'))).toBe(true);
    expect(text).toMatch(new RegExp(`EXPOSE ${defaultPort(name)}\\b`));
  });

  it('the trainer image holds the trainer node program the nodes run', () => {
    expect(existsSync(join(ROOT, PACKAGE_DIR['trainer-node'], 'src/node-main.ts'))).toBe(true);
  });
});
