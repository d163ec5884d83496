// Several response flags per request, as Envoy records them (e.g. UF with
// URX when connect failures used up the retries, DI with a later UT): the
// request path sets bits in one number, telemetry reads them back as a flag
// list in Envoy's order (its ResponseFlag enum order, which is also how
// Envoy prints %RESPONSE_FLAGS%, comma-joined). The list for a given bitset
// is built once and shared, so a request allocates nothing for its flags.

import type { ResponseFlag } from './types.js';

/** Envoy's enum order: the order the flags print in. */
const ORDER: readonly ResponseFlag[] = ['UH', 'UT', 'LR', 'UR', 'UF', 'UC', 'UO', 'NR', 'DI', 'FI', 'RL', 'UAEX', 'RLSE', 'DC', 'URX', 'DPE'];

/** The bit of each flag in a request's flag set. */
export const FLAG_BIT = Object.freeze(Object.fromEntries(ORDER.map((f, i) => [f, 1 << i]))) as Readonly<Record<ResponseFlag, number>>;

const NONE: readonly ResponseFlag[] = Object.freeze([]);
const lists = new Map<number, readonly ResponseFlag[]>();

/** The flags of a bitset, in Envoy's order (a shared, frozen list per bitset). */
export function responseFlagsOf(bits: number): readonly ResponseFlag[] {
  if (bits === 0) return NONE;
  let l = lists.get(bits);
  if (l === undefined) {
    const out: ResponseFlag[] = [];
    for (let i = 0; i < ORDER.length; i++) if (bits & (1 << i)) out.push(ORDER[i]!);
    l = Object.freeze(out);
    lists.set(bits, l); // at most 2^16 sets, in practice a handful
  }
  return l;
}

/** Envoy's %RESPONSE_FLAGS% text: comma-joined short names, '-' when none. */
export function responseFlagsText(flags: readonly ResponseFlag[]): string {
  return flags.length === 0 ? '-' : flags.length === 1 ? flags[0]! : flags.join(',');
}
