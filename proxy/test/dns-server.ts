// A real DNS server for tests (UDP on 127.0.0.1, packets by dns-packet):
// answers A and AAAA queries from a table the test edits while it runs, can
// delay answers, and answers names it lacks NXDOMAIN (or SERVFAIL when told to).

import dgram from 'node:dgram';
import { once } from 'node:events';
import * as packet from 'dns-packet';

export interface DnsRecords {
  a?: string[];
  aaaa?: string[];
  ttl?: number;
}

export class TestDnsServer {
  readonly records = new Map<string, DnsRecords>();
  /** Milliseconds before each answer is sent. */
  delayMs = 0;
  /** Answer every query SERVFAIL (a broken upstream DNS). */
  failing = false;
  queries = 0;
  private readonly socket = dgram.createSocket('udp4');

  async start(): Promise<this> {
    this.socket.on('message', (msg, from) => void this.answer(msg, from));
    this.socket.bind(0, '127.0.0.1');
    await once(this.socket, 'listening');
    return this;
  }

  get port(): number {
    return this.socket.address().port;
  }

  private async answer(msg: Buffer, from: dgram.RemoteInfo): Promise<void> {
    let q: packet.Packet;
    try {
      q = packet.decode(msg);
    } catch {
      return;
    }
    this.queries++;
    const question = q.questions?.[0];
    if (!question) return;
    const rec = this.records.get(question.name.replace(/\.$/, '').toLowerCase());
    const answers: packet.Answer[] = [];
    if (rec && question.type === 'A') for (const ip of rec.a ?? []) answers.push({ type: 'A', name: question.name, ttl: rec.ttl ?? 30, data: ip });
    if (rec && question.type === 'AAAA') for (const ip of rec.aaaa ?? []) answers.push({ type: 'AAAA', name: question.name, ttl: rec.ttl ?? 30, data: ip });
    // dns-packet takes the response code in the flags' low four bits: 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN.
    const rcode = this.failing ? 2 : rec ? 0 : 3;
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const reply = packet.encode({ id: q.id, type: 'response', flags: packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE | rcode, questions: [question], answers });
    this.socket.send(reply, from.port, from.address);
  }

  close(): void {
    this.socket.close();
  }
}
