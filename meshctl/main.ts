#!/usr/bin/env node
// meshctl: the tsmesh command line. Exit codes: 0 ok, 1 failure, 2 usage or
// invalid input, 3 control plane (or sidecar) unreachable.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { EXIT, toCliError, type GlobalOptions } from './context.js';
import { apply, del, describe, get } from './commands/policies.js';
import { status } from './commands/status.js';
import { analyze } from './commands/analyze.js';
import { top, type TopOptions } from './commands/top.js';
import { completionBash, proxyConfig, tokenCreate } from './commands/misc.js';
import { canarySet, canaryStart, canaryStatus, canaryWatch } from './commands/canary.js';
import { certs, check, tap } from './commands/observe.js';
import { rotateRoot } from './commands/rotate-root.js';
import { bench, type BenchOptions } from './commands/bench.js';
import { inject, install, type InjectFlags, type InstallFlags } from './commands/k8s.js';

const program = new Command('meshctl')
  .description('tsmesh command line: apply policies, inspect proxies, canaries and traffic')
  .option('--control-plane <url>', 'admin API of the control plane (env TSMESH_CONTROL_PLANE)')
  .option('--token <token>', 'admin API token (env TSMESH_TOKEN)')
  .option('--state-dir <dir>', 'state dir of a local control plane: admin address, token and keys are read from it (env TSMESH_STATE_DIR)')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) })
  .addHelpText('after', '\nExit codes: 0 ok, 1 failure, 2 usage or invalid input, 3 control plane unreachable.');

const g = (): GlobalOptions => program.opts<GlobalOptions>();
const run = (fn: (...a: any[]) => Promise<string> | string) => async (...a: any[]) => {
  process.stdout.write(await fn(...a));
};

program.command('apply').description('create or update policies from YAML files, folders or stdin (-f -)')
  .requiredOption('-f, --filename <path...>', 'file, folder or - (stdin); repeatable')
  .option('--dry-run', 'validate and show the diff against what runs, change nothing')
  .action(run((o: { filename: string[]; dryRun?: boolean }) => apply(g(), o.filename, o)));

program.command('get').description('list policies: get [kind|all] [name]')
  .argument('[kind]').argument('[name]')
  .option('-n, --namespace <ns>', 'namespace (default: all for lists, "default" for a name)')
  .option('-o, --output <format>', 'table | json | yaml', 'table')
  .action(run((kind?: string, name?: string, o?: { namespace?: string; output: string }) => get(g(), kind, name, o!)));

program.command('describe').description('show one policy in full').argument('<kind>').argument('<name>')
  .option('-n, --namespace <ns>', 'namespace', 'default')
  .action(run((kind: string, name: string, o: { namespace: string }) => describe(g(), kind, name, o)));

program.command('delete').description('delete one policy').argument('<kind>').argument('<name>')
  .option('-n, --namespace <ns>', 'namespace', 'default')
  .option('--dry-run', 'show what would be deleted')
  .action(run((kind: string, name: string, o: { namespace: string; dryRun?: boolean }) => del(g(), kind, name, o)));

program.command('status').description('connected proxies, identities, ACKed/NACKed config, last apply\'s propagation')
  .option('-o, --output <format>', 'table | json', 'table')
  .action(run((o: { output: string }) => status(g(), o)));

program.command('analyze').description('policies that are valid but do not take effect now (a Service, route or rule gone, a selector matching nothing, a shadowed policy); exit 1 on errors')
  .option('-o, --output <format>', 'table | json', 'table')
  .action(run((o: { output: string }) => analyze(g(), o)));

program.command('top').alias('stat').description('requests/s, success rate, p50/p99 per service and version from the sidecars\' metrics')
  .option('--admin <host:port,...>', 'sidecar admin listeners to read (env TSMESH_SIDECAR_ADMINS; default: every sidecar the control plane knows)')
  .option('--prometheus <url>', 'read from this Prometheus server instead (env TSMESH_PROMETHEUS)')
  .option('--window <seconds>', 'measuring window (default 2; with --prometheus the rate() range, default 60)')
  .option('-w, --watch', 'refresh every window until Ctrl-C')
  .option('--count <n>', 'stop after n refreshes (with or without --watch)')
  .option('-o, --output <format>', 'table | json', 'table')
  .action(run((o: TopOptions) => top(g(), o)));

program.command('proxy-config').description('what one proxy runs: listeners | routes | clusters | endpoints | secrets')
  .argument('<proxy>', 'node id (or a unique part of it, e.g. api-v2)').argument('<section>')
  .option('-o, --output <format>', 'table | json', 'table')
  .action(run((proxy: string, section: string, o: { output: string }) => proxyConfig(g(), proxy, section, o)));

program.command('tap').description('live stream of requests passing the sidecars, for one service').argument('<service>')
  .option('--admin <host:port,...>', 'sidecar admin listeners to tap (env TSMESH_SIDECAR_ADMINS; default: every sidecar the control plane knows)')
  .option('--direction <dir>', 'inbound | outbound')
  .option('--limit <n>', 'stop after n requests')
  .option('-o, --output <format>', 'text | json', 'text')
  .action(run((service: string, o: { admin?: string; limit?: string; direction?: string; output: string }) => tap(g(), service, o)));

const certsCmd = program.command('certs').description('a workload\'s SVID and expiry (--admin <sidecar>), or the mesh trust bundle (--state-dir)')
  .option('--admin <host:port,...>', 'sidecar admin listener(s)')
  .action(run((o: { admin?: string }) => certs(g(), o)));
certsCmd.command('rotate-root').description('zero-downtime root rotation: trust old+new everywhere, switch signing, wait for re-issued SVIDs, drop the old root')
  .option('--dry-run', 'show the plan and the current root, change nothing')
  .option('--timeout <duration>', 'stop following after (the rotation goes on in the control plane)', '15m')
  .option('--step-timeout <duration>', 'how long a step waits for the mesh (ACKs, re-issued SVIDs) before the rotation stops, resumable (default 1m, re-issue 5m)')
  .action(run((o: { dryRun?: boolean; timeout: string; stepTimeout?: string }) => rotateRoot(g(), o)));

program.command('bench').description('open-loop latency benchmark of one service through the mesh: p50/p90/p99/p99.9, throughput, errors').argument('<service>', 'service as the mesh routes it (Host), e.g. reviews:9080')
  .option('--via <host:port>', 'a sidecar\'s outbound listener to send through (env TSMESH_OUTBOUND)')
  .option('--url <url>', 'send to this http:// URL instead (the service is still the Host header)')
  .option('--rate <n>', 'requests per second, all connections together', '100')
  .option('--duration <d>', 'measured time', '10s')
  .option('--warmup <d>', 'unmeasured time before it', '1s')
  .option('--connections <n>', 'keep-alive connections', '4')
  .option('--path <path>', 'request path', '/')
  .option('-o, --output <format>', 'table | json', 'table')
  .action(run((service: string, o: BenchOptions) => bench(service, o)));

program.command('check').description('preflight: control plane reachable, CA valid and not near expiry, proxies in sync')
  .action(run(() => check(g())));

program.command('inject').description('add the tsmesh sidecar to Kubernetes workloads (prints YAML for kubectl apply -f -)')
  .requiredOption('-f, --filename <path...>', 'manifest file, folder or - (stdin)')
  .option('--image <image>', 'proxy image')
  .option('--xds-address <host:port>', 'control plane xDS/CA address in the cluster')
  .option('--trust-domain <td>', 'trust domain')
  .option('--tracing-endpoint <url>', 'OTLP/HTTP traces URL the sidecars export spans to')
  .option('--tracing-sampling <percent>', 'percent of new requests traced (default 1)')
  .action(run((o: InjectFlags) => inject(o)));

program.command('install').description('print the control plane\'s Kubernetes manifests (kubectl apply -f -)')
  .option('-n, --namespace <ns>', 'namespace of the control plane')
  .option('--image <image>', 'image')
  .option('--trust-domain <td>', 'trust domain')
  .option('--replicas <n>', 'control plane replicas')
  .option('--no-crds', 'leave out the CustomResourceDefinitions')
  .option('--tracing-endpoint <url>', 'mesh-wide: OTLP/HTTP traces URL every injected sidecar exports spans to')
  .option('--tracing-sampling <percent>', 'mesh-wide: percent of new requests traced (default 1)')
  .action(run((o: InstallFlags) => install(o)));

const token = program.command('token').description('bootstrap tokens for workloads (local mode)');
token.command('create').description('mint a bootstrap token for a namespace/service account')
  .requiredOption('--sa <serviceAccount>', 'service account')
  .option('--ns <namespace>', 'namespace', 'default')
  .option('--ttl <duration>', 'lifetime', '24h')
  .option('--trust-domain <td>', 'trust domain', 'cluster.local')
  .action(run((o: { sa: string; ns: string; ttl: string; trustDomain: string }) => tokenCreate(g(), { serviceAccount: o.sa, namespace: o.ns, ttl: o.ttl, trustDomain: o.trustDomain })));

const canary = program.command('canary').description('automated canary releases, run by the control plane (an applied Canary starts)');
canary.command('status').description('canaries: phase, weight and last step; with a name, every step').argument('[name]')
  .option('-n, --namespace <ns>', 'namespace', 'default')
  .action(run((name: string | undefined, o: { namespace: string }) => canaryStatus(g(), name, o)));
canary.command('start').description('start a new run of a Canary (one that finished), or follow the progressing one; exit 0 promoted, 1 rolled back').argument('<name>')
  .option('-n, --namespace <ns>', 'namespace', 'default')
  .option('--detach', 'return once started instead of following')
  .option('--timeout <duration>', 'stop following after (the canary goes on)', '1h')
  .action(run((name: string, o: { namespace: string; detach?: boolean; timeout: string }) => canaryStart(g(), name, o)));
canary.command('promote').description('send all traffic to the canary now (ends the run)').argument('<name>')
  .option('-n, --namespace <ns>', 'namespace', 'default')
  .action(run((name: string, o: { namespace: string }) => canarySet(g(), name, 'promote', o)));
canary.command('abort').description('send all traffic back to stable now (ends the run)').argument('<name>')
  .option('-n, --namespace <ns>', 'namespace', 'default')
  .action(run((name: string, o: { namespace: string }) => canarySet(g(), name, 'abort', o)));
canary.command('watch').description('draw the run\'s steps live (weight, success rate, p99, verdict) until it ends; exit 0 promoted, 1 rolled back').argument('<name>')
  .option('-n, --namespace <ns>', 'namespace', 'default')
  .option('--timeout <duration>', 'stop watching after', '1h')
  .action(run((name: string, o: { namespace: string; timeout: string }) => canaryWatch(g(), name, o)));

program.command('version').description('meshctl and control plane versions')
  .action(run(async () => {
    const pkg = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json'), 'utf8')) as { version: string };
    return `meshctl ${pkg.version}\n`;
  }));

program.command('completion').description('shell completion script').argument('<shell>', 'bash')
  .action(run((shell: string) => {
    if (shell !== 'bash') throw Object.assign(new Error(`unsupported shell "${shell}"; only bash`), { exit: EXIT.USAGE });
    return completionBash(program.commands.map((c) => c.name()));
  }));

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? EXIT.OK : EXIT.USAGE);
  const e = (err as { exit?: number }).exit !== undefined ? { message: (err as Error).message, exitCode: (err as { exit: number }).exit } : toCliError(err);
  process.stderr.write(`meshctl: ${e.message}\n`);
  process.exit(e.exitCode);
}
