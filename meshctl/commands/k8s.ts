// meshctl inject | install: the Kubernetes engineer's manifest functions
// (k8s/inject, k8s/install) behind the CLI; both print YAML for kubectl apply.

import { readInputs } from './policies.js';
import { injectManifests, type InjectOutcome } from '../../k8s/inject/inject.js';
import { renderInstallManifests } from '../../k8s/install/render.js';
import { CliError, EXIT } from '../context.js';

export async function inject(o: { filename: string[]; image?: string; controlPlane?: string; trustDomain?: string }): Promise<string> {
  const files = await readInputs(o.filename);
  const outcomes: InjectOutcome[] = [];
  const out = files.map((f) =>
    injectManifests(f.text, {
      ...(o.image ? { image: o.image } : {}),
      ...(o.controlPlane ? { controlPlaneAddress: o.controlPlane } : {}),
      ...(o.trustDomain ? { trustDomain: o.trustDomain } : {}),
    }, f.name, outcomes),
  );
  for (const x of outcomes) process.stderr.write(`${x.kind}/${x.name}: ${x.action}${x.reason ? ` (${x.reason})` : ''}\n`);
  return out.join('---\n');
}

export function install(o: { namespace?: string; image?: string; trustDomain?: string; replicas?: string; crds: boolean }): string {
  const replicas = o.replicas === undefined ? undefined : Number(o.replicas);
  if (replicas !== undefined && !(Number.isInteger(replicas) && replicas >= 1 && replicas <= 20)) throw new CliError(`--replicas must be 1–20, got ${o.replicas}`, EXIT.USAGE);
  return renderInstallManifests({
    ...(o.namespace ? { namespace: o.namespace } : {}),
    ...(o.image ? { image: o.image } : {}),
    ...(o.trustDomain ? { trustDomain: o.trustDomain } : {}),
    ...(replicas ? { replicas } : {}),
    includeCrds: o.crds,
  });
}
