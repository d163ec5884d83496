// The only module of the proxy that reads process.env.

export interface ProxyEnv {
  /** Log level: debug | info | warn | error (TSMESH_LOG_LEVEL). */
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Default bootstrap path when --config is not given (TSMESH_BOOTSTRAP). */
  bootstrap: string | undefined;
}

export function readProxyEnv(env: NodeJS.ProcessEnv = process.env): ProxyEnv {
  const lvl = env.TSMESH_LOG_LEVEL;
  return {
    logLevel: lvl === 'debug' || lvl === 'warn' || lvl === 'error' ? lvl : 'info',
    bootstrap: env.TSMESH_BOOTSTRAP || undefined,
  };
}
