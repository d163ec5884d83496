// undici's Dispatcher base class (an EventEmitter with compose()), required
// from its own file: the endpoint dispatchers extend it, and importing it from
// 'undici' would load undici's whole index (~110 modules, ~7 MB of RSS) into
// every sidecar. It is the same module instance undici's index exports, so
// instanceof and compose() behave as before. undici's HTTP/1.1 Client (the h2
// fallback for an origin that does not offer h2) loads on first use.

import { createRequire } from 'node:module';
import type { Client, Dispatcher } from 'undici';

const require = createRequire(import.meta.url);

export const DispatcherBase = require('undici/lib/dispatcher/dispatcher.js') as typeof Dispatcher;

export function undiciClient(): typeof Client {
  return (require('undici') as typeof import('undici')).Client;
}
