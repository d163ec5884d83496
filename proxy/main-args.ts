// mesh-proxy's command line, on node:util's parseArgs: commander (~126 KB of
// source, 9 modules) stayed resident for the sidecar's whole life to read
// three arguments once (bench/results/memory.md).

import { parseArgs } from 'node:util';

export interface ProxyArgs {
  /** Bootstrap file; undefined: an injected sidecar builds its bootstrap from the environment. */
  config?: string;
  /** Reload when the bootstrap file changes (--no-watch: only on SIGHUP). */
  watch: boolean;
  help: boolean;
}

export const USAGE = `Usage: mesh-proxy [options] [sidecar]

tsmesh sidecar proxy

Arguments:
  sidecar              how the injector runs it (the only mode; optional)

Options:
  -c, --config <file>  bootstrap YAML file (default: $TSMESH_BOOTSTRAP)
  --no-watch           do not reload when the bootstrap file changes
  -h, --help           display this help
`;

/** Throws an Error whose message names the bad argument. */
export function parseProxyArgs(argv: readonly string[], defaultConfig?: string): ProxyArgs {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      config: { type: 'string', short: 'c' },
      'no-watch': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 1 || (positionals.length === 1 && positionals[0] !== 'sidecar')) {
    throw new Error(`unexpected argument ${JSON.stringify(positionals.find((p) => p !== 'sidecar') ?? positionals[1])} (the only mode is "sidecar")`);
  }
  if (values.config === '') throw new Error('option --config needs a file name');
  const config = values.config ?? defaultConfig;
  return { ...(config ? { config } : {}), watch: !values['no-watch'], help: values.help === true };
}
