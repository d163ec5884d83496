// Reads an incoming trace context from W3C (traceparent/tracestate) or B3
// (single `b3` header or multi `x-b3-*`) headers and writes the outgoing one.
// Patterns are compiled once, at load.

export type HeaderBag = Readonly<Record<string, string | string[] | undefined>>;

export interface IncomingContext {
  /** 32 lowercase hex digits (B3 64-bit ids are left-padded with zeros). */
  traceId: string;
  /** The caller's span id: our span's parent. */
  spanId: string;
  /** true/false when the caller decided, undefined when it deferred (B3 without a sampled flag). */
  sampled: boolean | undefined;
  /** Which headers carried it. */
  format: 'w3c' | 'b3-single' | 'b3-multi';
  /** Whether B3 came in (alone or beside traceparent), and in which form: B3 is answered in the same form. */
  b3?: 'single' | 'multi';
  traceState?: string;
  /** The trace id as B3 sent it (16 or 32 hex), so the B3 we send keeps its width. */
  b3TraceId?: string;
  /** The propagation headers exactly as they came, for forwarding an unsampled context untouched. */
  raw: Record<string, string>;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const HEX16_OR_32 = /^(?:[0-9a-f]{16}|[0-9a-f]{32})$/;
const HEX16 = /^[0-9a-f]{16}$/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';
const MAX_HEADER = 512;

function first(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s !== undefined && s.length <= MAX_HEADER ? s : undefined;
}

/** Undefined when the request carries no valid trace context. Never throws. */
export function extractContext(h: HeaderBag): IncomingContext | undefined {
  const tp = first(h['traceparent']);
  if (tp !== undefined) {
    const ctx = parseTraceparent(tp.trim().toLowerCase());
    if (ctx) {
      const ts = first(h['tracestate']);
      ctx.raw.traceparent = tp;
      if (ts !== undefined) {
        ctx.traceState = ts;
        ctx.raw.tracestate = ts;
      }
      // A caller speaking both: keep answering in B3 too (with traceparent's ids).
      if (h['b3'] !== undefined) ctx.b3 = 'single';
      else if (h['x-b3-traceid'] !== undefined) ctx.b3 = 'multi';
      return ctx;
    }
  }
  const single = first(h['b3']);
  if (single !== undefined) {
    const ctx = parseB3Single(single.trim().toLowerCase());
    if (ctx) {
      ctx.raw.b3 = single;
      return ctx;
    }
  }
  const tid = first(h['x-b3-traceid']);
  const sid = first(h['x-b3-spanid']);
  if (tid !== undefined && sid !== undefined) {
    const t = tid.toLowerCase();
    const s = sid.toLowerCase();
    if (!HEX16_OR_32.test(t) || !HEX16.test(s) || s === ZERO_SPAN) return undefined;
    const traceId = t.padStart(32, '0');
    if (traceId === ZERO_TRACE) return undefined;
    const raw: Record<string, string> = { 'x-b3-traceid': tid, 'x-b3-spanid': sid };
    const sampledH = first(h['x-b3-sampled']);
    const flags = first(h['x-b3-flags']);
    const parent = first(h['x-b3-parentspanid']);
    if (sampledH !== undefined) raw['x-b3-sampled'] = sampledH;
    if (flags !== undefined) raw['x-b3-flags'] = flags;
    if (parent !== undefined) raw['x-b3-parentspanid'] = parent;
    const sampled = flags === '1' ? true : b3Sampled(sampledH);
    return { traceId, spanId: s, sampled, format: 'b3-multi', b3: 'multi', b3TraceId: t, raw };
  }
  return undefined;
}

function parseTraceparent(v: string): IncomingContext | undefined {
  const m = TRACEPARENT.exec(v);
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string?];
  // Version ff is invalid; version 00 allows nothing after the flags.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1, format: 'w3c', raw: {} };
}

function parseB3Single(v: string): IncomingContext | undefined {
  const parts = v.split('-');
  if (parts.length < 2 || parts.length > 4) return undefined; // a bare "0"/"1"/"d" carries no ids to continue
  const [t, s, samp] = parts as [string, string, string?];
  if (!HEX16_OR_32.test(t) || !HEX16.test(s) || s === ZERO_SPAN) return undefined;
  const traceId = t.padStart(32, '0');
  if (traceId === ZERO_TRACE) return undefined;
  const sampled = samp === 'd' ? true : b3Sampled(samp);
  return { traceId, spanId: s, sampled, format: 'b3-single', b3: 'single', b3TraceId: t, raw: {} };
}

function b3Sampled(v: string | undefined): boolean | undefined {
  if (v === '1' || v === 'true' || v === 'd') return true;
  if (v === '0' || v === 'false') return false;
  return undefined;
}

/** The headers a sampled request carries upstream: traceparent always, B3 in the form it came in. */
export function outgoingHeaders(
  traceId: string,
  spanId: string,
  incoming: IncomingContext | undefined,
): Record<string, string> {
  const out: Record<string, string> = { traceparent: `00-${traceId}-${spanId}-01` };
  if (!incoming) return out;
  if (incoming.traceState !== undefined) out.tracestate = incoming.traceState;
  const b3Trace = incoming.b3TraceId ?? traceId;
  if (incoming.b3 === 'single') {
    out.b3 = `${b3Trace}-${spanId}-1-${incoming.spanId}`;
  } else if (incoming.b3 === 'multi') {
    out['x-b3-traceid'] = b3Trace;
    out['x-b3-spanid'] = spanId;
    out['x-b3-parentspanid'] = incoming.spanId;
    out['x-b3-sampled'] = '1';
  }
  return out;
}
