// meshctl inject | install: the Kubernetes engineer's manifest functions
// (k8s/inject, k8s/install) behind the CLI; both print YAML for kubectl apply.

import { readInputs } from './policies.js';
import { injectManifests, type InjectOutcome } from '../../k8s/inject/inject.js';
import { renderInstallManifests } from '../../k8s/install/render.js';
import { CliError, EXIT } from '../context.js';
import { parseSamplingPercent, tracingEndpointProblem } from '../../common/tracing-settings.js';

/** The tracing flags both commands take; checked here so a typo is a usage error naming the flag. */
interface TracingFlags {
  tracingEndpoint?: string;
  tracingSampling?: string;
}

export interface InjectFlags extends TracingFlags {
  filename: string[];
  image?: string;
  xdsAddress?: string;
  trustDomain?: string;
}

export interface InstallFlags extends TracingFlags {
  namespace?: string;
  image?: string;
  trustDomain?: string;
  replicas?: string;
  crds: boolean;
}

function tracingOptions(o: TracingFlags): { tracingEndpoint?: string; tracingSampling?: number } {
  if (o.tracingEndpoint !== undefined) {
    const bad = tracingEndpointProblem(o.tracingEndpoint);
    if (bad) throw new CliError(`--tracing-endpoint: ${bad}`, EXIT.USAGE);
  }
  if (o.tracingSampling === undefined) return o.tracingEndpoint !== undefined ? { tracingEndpoint: o.tracingEndpoint } : {};
  const n = parseSamplingPercent(o.tracingSampling);
  if (n === undefined) throw new CliError(`--tracing-sampling must be a percentage (0-100), got ${o.tracingSampling}`, EXIT.USAGE);
  if (o.tracingEndpoint === undefined) throw new CliError('--tracing-sampling needs --tracing-endpoint (where the spans go)', EXIT.USAGE);
  return { tracingEndpoint: o.tracingEndpoint, tracingSampling: n };
}

export async function inject(o: InjectFlags): Promise<string> {
  const tracing = tracingOptions(o);
  const files = await readInputs(o.filename);
  const outcomes: InjectOutcome[] = [];
  const out = files.map((f) =>
    injectManifests(f.text, {
      ...(o.image ? { image: o.image } : {}),
      ...(o.xdsAddress ? { controlPlaneAddress: o.xdsAddress } : {}),
      ...(o.trustDomain ? { trustDomain: o.trustDomain } : {}),
      ...tracing,
    }, f.name, outcomes),
  );
  for (const x of outcomes) process.stderr.write(`${x.kind}/${x.name}: ${x.action}${x.reason ? ` (${x.reason})` : ''}\n`);
  return out.join('---\n');
}

export function install(o: InstallFlags): string {
  const replicas = o.replicas === undefined ? undefined : Number(o.replicas);
  if (replicas !== undefined && !(Number.isInteger(replicas) && replicas >= 1 && replicas <= 20)) throw new CliError(`--replicas must be 1–20, got ${o.replicas}`, EXIT.USAGE);
  return renderInstallManifests({
    ...(o.namespace ? { namespace: o.namespace } : {}),
    ...(o.image ? { image: o.image } : {}),
    ...(o.trustDomain ? { trustDomain: o.trustDomain } : {}),
    ...(replicas ? { replicas } : {}),
    includeCrds: o.crds,
    ...tracingOptions(o),
  });
}
