#!/usr/bin/env node
// mesh-control-plane: the tsmesh control plane process.

import { Command } from 'commander';
import { createLogger, type LogLevel } from '../common/log.js';
import { startControlPlane } from './server.js';

const program = new Command('mesh-control-plane')
  .description('tsmesh control plane: xDS v3 (ADS) for sidecars and gRPC proxyless clients')
  .option('--listen <host:port>', 'gRPC listen address', '0.0.0.0:15010')
  .option('--state-dir <dir>', 'directory for persisted state', './mesh-state')
  .option('--static-snapshot <file>', 'serve per-node snapshots from this YAML file of xDS resources (instead of the policy plane)')
  .option('--admin-listen <host:port>', 'admin API address for meshctl', '127.0.0.1:15080')
  .option('--services-file <file>', 'watched YAML file of services and endpoints for the embedded registry')
  .option('--log-level <level>', 'debug | info | warn | error', 'info')
  .parse();

const o = program.opts<{ listen: string; stateDir: string; staticSnapshot?: string; adminListen: string; servicesFile?: string; logLevel: LogLevel }>();
const logger = createLogger({ level: o.logLevel, base: { component: 'control-plane' } });

try {
  const cp = await startControlPlane({
    listen: o.listen,
    stateDir: o.stateDir,
    adminListen: o.adminListen,
    ...(o.staticSnapshot ? { staticSnapshot: o.staticSnapshot } : {}),
    ...(o.servicesFile ? { servicesFile: o.servicesFile } : {}),
    logger,
  });
  // Tests and scripts read the bound port from this line.
  process.stdout.write(`listening ${cp.port}\n`);
  if (cp.plane) process.stdout.write(`admin ${cp.plane.adminPort}\n`);
  const stop = () => void cp.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', () => {
    try {
      cp.statics?.reload();
    } catch (err) {
      logger.error('reload rejected; keeping the previous snapshot', { err });
    }
  });
} catch (err) {
  logger.error('control plane failed to start', { err });
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}
