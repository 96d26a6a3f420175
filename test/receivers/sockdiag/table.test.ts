/**
 * ConnectionTable: synthetic dumps in, exact events out.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionTable, correctCounters, type Owner } from '../../../src/receivers/sockdiag/table.js';
import { TCP, type DiagSocket } from '../../../src/receivers/sockdiag/record.js';
import { FLAG } from '../../../src/native/records.js';
import type { TcpEvent } from '../../../src/core/events.js';
import { listener, sock } from '../../support/sockdiag.js';

const S = 1_000_000_000; // one second in ns
const NETNS = 4026531840;

function table(maxTracked = 1000) {
  return new ConnectionTable({ maxTracked, netns: NETNS });
}

const brief = (e: TcpEvent) => ({ kind: e.kind, id: e.socketId, sent: e.bytesSent, received: e.bytesReceived, dir: e.direction });

describe('correctCounters', () => {
  it('removes the sequence numbers of SYN and FIN from the kernel byte counters', () => {
    const c = (state: number, acked: number, received: number, dir: 'inbound' | 'outbound') =>
      correctCounters({ state, bytesAcked: acked, bytesReceived: received }, dir);
    // active side: our SYN is in bytes_acked from the SYN-ACK on
    assert.deepEqual(c(TCP.ESTABLISHED, 101, 50, 'outbound'), { sent: 100, received: 50 });
    assert.deepEqual(c(TCP.ESTABLISHED, 100, 50, 'inbound'), { sent: 100, received: 50 });
    // our FIN sent, not yet acknowledged
    assert.deepEqual(c(TCP.FIN_WAIT1, 101, 50, 'outbound'), { sent: 100, received: 50 });
    assert.deepEqual(c(TCP.CLOSING, 101, 51, 'outbound'), { sent: 100, received: 50 });
    assert.deepEqual(c(TCP.LAST_ACK, 100, 51, 'inbound'), { sent: 100, received: 50 });
    // our FIN acknowledged
    assert.deepEqual(c(TCP.FIN_WAIT2, 102, 50, 'outbound'), { sent: 100, received: 50 });
    assert.deepEqual(c(TCP.FIN_WAIT2, 101, 50, 'inbound'), { sent: 100, received: 50 });
    // the peer's FIN received
    assert.deepEqual(c(TCP.CLOSE_WAIT, 100, 51, 'inbound'), { sent: 100, received: 50 });
    assert.deepEqual(c(TCP.CLOSE_WAIT, 1, 1, 'outbound'), { sent: 0, received: 0 });
    // never below zero
    assert.deepEqual(c(TCP.FIN_WAIT2, 1, 0, 'outbound'), { sent: 0, received: 0 });
    assert.deepEqual(c(TCP.CLOSE_WAIT, 0, 0, 'inbound'), { sent: 0, received: 0 });
  });
});

describe('ConnectionTable', () => {
  it('reports what the first dump shows as existing, every field filled, and counts sockets by state', () => {
    const t = table();
    const r = t.update(
      [
        listener(8080),
        listener(8443, { family: 6, localAddress: '::' }),
        // inbound: its local port listens; counters need no SYN correction
        sock({ cookie: 1, localPort: 8080, remotePort: 50001, bytesAcked: 300, bytesReceived: 200, segsIn: 7, segsOut: 9, totalRetrans: 2, bytesRetrans: 40, rttUs: 123 }),
        // outbound: bytes_acked counts the SYN
        sock({ cookie: 2, family: 6, localAddress: '::1', remoteAddress: '::1', localPort: 50002, remotePort: 443, bytesAcked: 1001, bytesReceived: 5000 }),
        sock({ cookie: 3, state: TCP.TIME_WAIT, hasInfo: false }),
        sock({ cookie: 4, state: TCP.SYN_SENT, bytesAcked: 0 }),
        sock({ cookie: 5, state: TCP.NEW_SYN_RECV, hasInfo: false }),
        sock({ cookie: 6, state: TCP.SYN_RECV, hasInfo: false }),
        sock({ cookie: 7, state: TCP.CLOSE_WAIT, localPort: 50007, bytesAcked: 11, bytesReceived: 21 }),
      ],
      10 * S,
    );
    assert.deepEqual(r.stateCounts, {
      v4: { listen: 1, established: 1, time_wait: 1, syn_sent: 1, syn_received: 2, close_wait: 1 },
      v6: { listen: 1, established: 1 },
    });
    assert.equal(r.dropped, 0);
    assert.deepEqual(r.events.map(brief), [
      { kind: 'existing', id: 1, sent: 300, received: 200, dir: 'inbound' },
      { kind: 'existing', id: 2, sent: 1000, received: 5000, dir: 'outbound' },
      { kind: 'existing', id: 7, sent: 10, received: 20, dir: 'outbound' },
    ]);
    assert.deepEqual(r.events[0], {
      kind: 'existing',
      timeNs: 10 * S,
      socketId: 1,
      family: 4,
      localAddress: '127.0.0.1',
      localPort: 8080,
      remoteAddress: '127.0.0.1',
      remotePort: 50001,
      direction: 'inbound',
      pid: 0,
      tid: 0,
      comm: '',
      cgroupId: 0,
      netns: NETNS,
      durationNs: 0,
      bytesSent: 300,
      bytesReceived: 200,
      bytesRetransmitted: 40,
      handshakeNs: 0,
      segmentsIn: 7,
      segmentsOut: 9,
      retransmits: 2,
      srttUs: 123,
      oldState: 'established',
      newState: 'established',
      errno: 0,
      reset: undefined,
      preexisting: true,
      resetSent: false,
      resetReceived: false,
      flags: FLAG.PASSIVE | FLAG.PREEXISTING,
      lost: 0,
    });
    assert.equal(r.events[1]!.family, 6);
    assert.equal(r.events[1]!.flags, FLAG.ACTIVE | FLAG.PREEXISTING);
    assert.equal(r.events[2]!.oldState, 'close_wait');
    // tracked: 1, 2, 7 open; 4 connecting; 3 remembered in TIME_WAIT
    assert.equal(t.size, 5);
    assert.equal(t.openCount, 3);
  });

  it('reports a connection that appears later as open, with its bytes so far and no handshake', () => {
    const t = table();
    t.update([listener(8080)], 1 * S);
    const r = t.update(
      [
        listener(8080),
        sock({ cookie: 10, localPort: 8080, remotePort: 50010, bytesAcked: 0, bytesReceived: 1234 }),
        sock({ cookie: 11, localPort: 50011, remotePort: 8080, bytesAcked: 1235, bytesReceived: 0 }),
        // already past ESTABLISHED when first seen: still an open
        sock({ cookie: 12, state: TCP.FIN_WAIT2, localPort: 50012, bytesAcked: 12, bytesReceived: 3 }),
      ],
      2 * S,
    );
    assert.deepEqual(r.events.map(brief), [
      { kind: 'open', id: 10, sent: 0, received: 1234, dir: 'inbound' },
      { kind: 'open', id: 11, sent: 1234, received: 0, dir: 'outbound' },
      { kind: 'open', id: 12, sent: 10, received: 3, dir: 'outbound' },
    ]);
    for (const e of r.events) {
      assert.equal(e.preexisting, false);
      assert.equal(e.handshakeNs, 0);
      assert.equal(e.durationNs, 0);
      assert.equal(e.timeNs, 2 * S);
    }
    assert.equal(r.events[0]!.oldState, 'syn_received');
    assert.equal(r.events[0]!.newState, 'established');
    assert.equal(r.events[0]!.flags, FLAG.PASSIVE);
    assert.equal(r.events[1]!.oldState, 'syn_sent');
    assert.equal(r.events[1]!.flags, FLAG.ACTIVE);
    assert.equal(r.events[2]!.newState, 'fin_wait_2');
  });

  it('samples open connections whose bytes changed, and only those', () => {
    const t = table();
    t.update([sock({ cookie: 1, bytesAcked: 101, bytesReceived: 10 }), sock({ cookie: 2, bytesAcked: 1, bytesReceived: 0 })], 1 * S);
    // 1: bytes changed; 2: only segments and RTT changed
    let r = t.update(
      [sock({ cookie: 1, bytesAcked: 201, bytesReceived: 10, segsOut: 5, totalRetrans: 1 }), sock({ cookie: 2, bytesAcked: 1, bytesReceived: 0, segsIn: 9, rttUs: 999 })],
      2 * S,
    );
    assert.deepEqual(r.events.map(brief), [{ kind: 'sample', id: 1, sent: 200, received: 10, dir: 'outbound' }]);
    assert.equal(r.events[0]!.retransmits, 1);
    assert.equal(r.events[0]!.segmentsOut, 5);
    assert.equal(r.events[0]!.preexisting, true);
    assert.equal(r.events[0]!.durationNs, 0, 'lifetime of a preexisting connection is unknown');
    // idle: nothing
    r = t.update([sock({ cookie: 1, bytesAcked: 201, bytesReceived: 10 }), sock({ cookie: 2, bytesAcked: 1, bytesReceived: 0 })], 3 * S);
    assert.deepEqual(r.events, []);
    // a state change that the corrections cancel out (our FIN acked) is not a sample
    r = t.update([sock({ cookie: 1, state: TCP.FIN_WAIT2, bytesAcked: 202, bytesReceived: 10 }), sock({ cookie: 2, bytesAcked: 1, bytesReceived: 0 })], 4 * S);
    assert.deepEqual(r.events, []);
  });

  it('closes a connection that is gone with the last counters seen and its lifetime since first seen', () => {
    const t = table();
    t.update([], 1 * S);
    t.update([sock({ cookie: 1, bytesAcked: 11, bytesReceived: 0 })], 2 * S);
    t.update([sock({ cookie: 1, bytesAcked: 5001, bytesReceived: 700, segsIn: 4, segsOut: 8, totalRetrans: 3, rttUs: 77 })], 3 * S);
    const r = t.update([], 5 * S);
    assert.equal(r.events.length, 1);
    const e = r.events[0]!;
    assert.deepEqual(brief(e), { kind: 'close', id: 1, sent: 5000, received: 700, dir: 'outbound' });
    assert.equal(e.timeNs, 5 * S);
    assert.equal(e.durationNs, 3 * S);
    assert.equal(e.oldState, 'established');
    assert.equal(e.newState, 'closed');
    assert.equal(e.retransmits, 3);
    assert.equal(e.segmentsIn, 4);
    assert.equal(e.segmentsOut, 8);
    assert.equal(e.srttUs, 77);
    assert.equal(e.errno, 0);
    assert.equal(e.flags, FLAG.ACTIVE);
    assert.equal(t.size, 0);
    assert.deepEqual(t.update([], 6 * S).events, []);
  });

  it('closes a connection seen in TIME_WAIT (no tcp_info there) with the counters from before, once', () => {
    const t = table();
    t.update([listener(8080), sock({ cookie: 1, localPort: 8080, bytesAcked: 100, bytesReceived: 40 })], 1 * S);
    // the server closed first; counters of the last dump that had them
    const tw = sock({ cookie: 1, localPort: 8080, state: TCP.TIME_WAIT, hasInfo: false, bytesAcked: 0, bytesReceived: 0 });
    let r = t.update([listener(8080), tw], 2 * S);
    assert.deepEqual(r.events.map(brief), [{ kind: 'close', id: 1, sent: 100, received: 40, dir: 'inbound' }]);
    assert.equal(r.events[0]!.oldState, 'established');
    assert.equal(r.events[0]!.preexisting, true);
    assert.deepEqual(r.stateCounts.v4, { listen: 1, time_wait: 1 });
    r = t.update([listener(8080), tw], 3 * S);
    assert.deepEqual(r.events, []);
    // TIME_WAIT over: forgotten quietly
    assert.deepEqual(t.update([listener(8080)], 4 * S).events, []);
    assert.deepEqual(t.update([listener(8080)], 5 * S).events, []);
    assert.equal(t.size, 0);
  });

  it('takes the FIN corrections of the closing states so that close bytes equal the application bytes', () => {
    const t = table();
    t.update([listener(9000)], 0);
    // client: wrote 1000, read 500; server: read 1000, wrote 500
    t.update([listener(9000), sock({ cookie: 1, localPort: 50001, remotePort: 9000, bytesAcked: 1001, bytesReceived: 500 }), sock({ cookie: 2, localPort: 9000, remotePort: 50001, bytesAcked: 500, bytesReceived: 1000 })], 1 * S);
    // the client closed: FIN acked (FIN_WAIT2); the server got it (CLOSE_WAIT)
    let r = t.update(
      [listener(9000), sock({ cookie: 1, state: TCP.FIN_WAIT2, localPort: 50001, remotePort: 9000, bytesAcked: 1002, bytesReceived: 500 }), sock({ cookie: 2, state: TCP.CLOSE_WAIT, localPort: 9000, remotePort: 50001, bytesAcked: 500, bytesReceived: 1001 })],
      2 * S,
    );
    assert.deepEqual(r.events, [], 'the FINs are not bytes');
    // the server closed too: LAST_ACK (its FIN not yet acked)
    r = t.update([listener(9000), sock({ cookie: 1, state: TCP.TIME_WAIT, localPort: 50001, remotePort: 9000, hasInfo: false }), sock({ cookie: 2, state: TCP.LAST_ACK, localPort: 9000, remotePort: 50001, bytesAcked: 500, bytesReceived: 1001 })], 3 * S);
    assert.deepEqual(r.events.map(brief), [{ kind: 'close', id: 1, sent: 1000, received: 500, dir: 'outbound' }]);
    assert.equal(r.events[0]!.oldState, 'fin_wait_2');
    r = t.update([listener(9000), sock({ cookie: 1, state: TCP.TIME_WAIT, localPort: 50001, remotePort: 9000, hasInfo: false })], 4 * S);
    assert.deepEqual(r.events.map(brief), [{ kind: 'close', id: 2, sent: 500, received: 1000, dir: 'inbound' }]);
    assert.equal(r.events[0]!.oldState, 'last_ack');
  });

  it('follows a connect: SYN_SENT then ESTABLISHED is an open; SYN_SENT then gone is a failed connect with errno 0', () => {
    const t = table();
    t.update([], 1 * S);
    let r = t.update([sock({ cookie: 1, state: TCP.SYN_SENT }), sock({ cookie: 2, state: TCP.SYN_SENT })], 2 * S);
    assert.deepEqual(r.events, []);
    assert.deepEqual(r.stateCounts.v4, { syn_sent: 2 });
    r = t.update([sock({ cookie: 1, bytesAcked: 1, bytesReceived: 0 }), sock({ cookie: 2, state: TCP.SYN_SENT })], 3 * S);
    assert.deepEqual(r.events.map(brief), [{ kind: 'open', id: 1, sent: 0, received: 0, dir: 'outbound' }]);
    assert.equal(r.events[0]!.oldState, 'syn_sent');
    r = t.update([sock({ cookie: 1, bytesAcked: 1, bytesReceived: 0 })], 4 * S);
    assert.equal(r.events.length, 1);
    const f = r.events[0]!;
    assert.equal(f.kind, 'failed');
    assert.equal(f.socketId, 2);
    assert.equal(f.errno, 0);
    assert.equal(f.direction, 'outbound');
    assert.equal(f.oldState, 'syn_sent');
    assert.equal(f.newState, 'closed');
    assert.equal(f.durationNs, 2 * S);
    assert.equal(f.preexisting, false);
    // a connect in progress at the first dump is a new connection once it completes
    const t2 = table();
    t2.update([sock({ cookie: 5, state: TCP.SYN_SENT })], 1 * S);
    r = t2.update([sock({ cookie: 5, bytesAcked: 1 })], 2 * S);
    assert.deepEqual(r.events.map((e) => [e.kind, e.preexisting]), [['open', false]]);
  });

  it('reports a connection that opened and closed between two dumps (TIME_WAIT only) as open + close without counters, once', () => {
    const t = table();
    t.update([], 1 * S);
    const tw = sock({ cookie: 1, state: TCP.TIME_WAIT, hasInfo: false });
    let r = t.update([tw], 2 * S);
    assert.deepEqual(r.events.map((e) => [e.kind, e.bytesSent, e.bytesReceived, e.flags, e.durationNs]), [
      ['open', 0, 0, FLAG.ACTIVE | FLAG.UNTRACKED, 0],
      ['close', 0, 0, FLAG.ACTIVE | FLAG.UNTRACKED, 0],
    ]);
    r = t.update([tw], 3 * S);
    assert.deepEqual(r.events, []);
    // connecting, then TIME_WAIT
    t.update([tw, sock({ cookie: 2, state: TCP.SYN_SENT })], 4 * S);
    r = t.update([tw, sock({ cookie: 2, state: TCP.TIME_WAIT, hasInfo: false })], 5 * S);
    assert.deepEqual(r.events.map((e) => [e.kind, e.socketId, e.flags & FLAG.UNTRACKED]), [
      ['open', 2, FLAG.UNTRACKED],
      ['close', 2, FLAG.UNTRACKED],
    ]);
    assert.equal(r.events[1]!.durationNs, 1 * S);
  });

  it('asks `confirm` about tracked sockets a dump did not show, and believes it', () => {
    const t = table();
    const a = sock({ cookie: 1, bytesAcked: 11 });
    const b = sock({ cookie: 2, bytesAcked: 21 });
    const c = sock({ cookie: 3, state: TCP.SYN_SENT });
    t.update([a, b, c], 1 * S);
    const asked: number[][] = [];
    // the dump skipped 1 (still there, with new bytes) and 3 (still connecting); 2 is gone
    const r = t.update([], 2 * S, {
      confirm: (missing) => {
        asked.push(missing.map((m) => m.cookie));
        for (const m of missing) {
          assert.equal(m.localPort, 40000 + m.cookie);
          assert.equal(m.remotePort, 8080);
          assert.equal(m.family, 4);
        }
        return [sock({ cookie: 1, bytesAcked: 31 }), sock({ cookie: 3, state: TCP.SYN_SENT })];
      },
    });
    assert.deepEqual(asked, [[1, 2, 3]]);
    assert.deepEqual(r.events.map(brief), [
      { kind: 'close', id: 2, sent: 20, received: 0, dir: 'outbound' },
      { kind: 'sample', id: 1, sent: 30, received: 0, dir: 'outbound' },
    ]);
    // not asked when nothing is missing; not asked about remembered TIME_WAIT sockets
    const t2 = table();
    t2.update([sock({ cookie: 1, state: TCP.TIME_WAIT, hasInfo: false })], 1 * S);
    t2.update([], 2 * S, { confirm: () => assert.fail('asked') });
  });

  it('finds owners once per inode; a connection not yet accepted takes its listener owner', () => {
    const t = table();
    const owners = new Map<number, Owner>([
      [500, { pid: 42, comm: 'server', cgroupId: 7 }],
      [501, { pid: 43, comm: 'client', cgroupId: 8 }],
    ]);
    const calls: number[][] = [];
    const hooks = {
      owners: (inodes: readonly number[]) => {
        calls.push([...inodes].sort((x, y) => x - y));
        return new Map([...owners].filter(([k]) => inodes.includes(k)));
      },
    };
    let r = t.update([listener(8080, { inode: 500 })], 1 * S, hooks);
    assert.deepEqual(calls, [], 'listeners themselves are not looked up');
    r = t.update(
      [
        listener(8080, { inode: 500 }),
        sock({ cookie: 1, localPort: 8080, remotePort: 50001, inode: 0 }), // in the accept queue
        sock({ cookie: 2, localPort: 50001, remotePort: 8080, inode: 501, bytesAcked: 1 }),
        sock({ cookie: 3, localPort: 50003, remotePort: 80, inode: 999, bytesAcked: 1 }), // not ours to see
      ],
      2 * S,
      hooks,
    );
    assert.deepEqual(calls, [[500, 501, 999]]);
    assert.deepEqual(r.events.map((e) => [e.socketId, e.pid, e.tid, e.comm, e.cgroupId, e.flags & FLAG.OWNER]), [
      [1, 42, 42, 'server', 7, FLAG.OWNER],
      [2, 43, 43, 'client', 8, FLAG.OWNER],
      [3, 0, 0, '', 0, 0],
    ]);
    // unchanged: no lookup; accepted (own inode now): already owned, no lookup
    r = t.update(
      [
        listener(8080, { inode: 500 }),
        sock({ cookie: 1, localPort: 8080, remotePort: 50001, inode: 600 }),
        sock({ cookie: 2, localPort: 50001, remotePort: 8080, inode: 501, bytesAcked: 1 }),
        sock({ cookie: 3, localPort: 50003, remotePort: 80, inode: 999, bytesAcked: 1 }),
      ],
      3 * S,
      hooks,
    );
    assert.equal(calls.length, 1);
    // the close keeps the owner
    r = t.update([listener(8080, { inode: 500 })], 4 * S, hooks);
    assert.deepEqual(r.events.map((e) => [e.kind, e.socketId, e.pid]), [
      ['close', 1, 42],
      ['close', 2, 43],
      ['close', 3, 0],
    ]);
    assert.equal(calls.length, 1);
  });

  it('tracks at most maxTracked sockets: the rest get no events and are counted once', () => {
    const t = table(2);
    let r = t.update([sock({ cookie: 1 }), sock({ cookie: 2 }), sock({ cookie: 3 }), sock({ cookie: 4 })], 1 * S);
    assert.deepEqual(r.events.map((e) => e.socketId), [1, 2]);
    assert.equal(r.dropped, 2);
    r = t.update([sock({ cookie: 1 }), sock({ cookie: 2 }), sock({ cookie: 3 }), sock({ cookie: 4 })], 2 * S);
    assert.equal(r.dropped, 0, 'the same sockets are not counted again');
    assert.deepEqual(r.events, []);
    // room again: 3 is reported as existing from now on (its start was not seen)
    r = t.update([sock({ cookie: 2 }), sock({ cookie: 3, bytesAcked: 11 }), sock({ cookie: 4 })], 3 * S);
    assert.deepEqual(r.events.map((e) => [e.kind, e.socketId, e.bytesSent, e.flags]), [
      ['close', 1, 0, FLAG.ACTIVE | FLAG.PREEXISTING],
      ['existing', 3, 10, FLAG.ACTIVE | FLAG.PREEXISTING | FLAG.UNTRACKED],
    ]);
    assert.equal(r.dropped, 0);
    assert.equal(t.size, 2);
  });

  it('reports a socket listed twice by one dump once', () => {
    const t = table();
    t.update([], 1 * S);
    const r = t.update([sock({ cookie: 1, bytesAcked: 11 }), sock({ cookie: 1, bytesAcked: 11 })], 2 * S);
    assert.deepEqual(r.events.map(brief), [{ kind: 'open', id: 1, sent: 10, received: 0, dir: 'outbound' }]);
    const r2 = t.update([sock({ cookie: 1, bytesAcked: 21 }), sock({ cookie: 1, bytesAcked: 21 })], 3 * S);
    assert.deepEqual(r2.events.map(brief), [{ kind: 'sample', id: 1, sent: 20, received: 0, dir: 'outbound' }]);
  });

  it('counts request sockets as syn_received and keeps the families apart', () => {
    const t = table();
    const r = t.update(
      [
        sock({ cookie: 1, state: TCP.NEW_SYN_RECV, hasInfo: false }),
        sock({ cookie: 2, state: TCP.SYN_RECV }),
        sock({ cookie: 3, family: 6, state: TCP.NEW_SYN_RECV, hasInfo: false }),
        sock({ cookie: 4, family: 6, state: TCP.LAST_ACK }),
        sock({ cookie: 5, family: 6, state: TCP.FIN_WAIT1 }),
        sock({ cookie: 6, family: 6, state: TCP.CLOSING }),
      ],
      1 * S,
    );
    assert.deepEqual(r.stateCounts, { v4: { syn_received: 2 }, v6: { syn_received: 1, last_ack: 1, fin_wait_1: 1, closing: 1 } });
    assert.deepEqual(r.events.map((e) => [e.kind, e.socketId, e.newState]), [
      ['existing', 4, 'last_ack'],
      ['existing', 5, 'fin_wait_1'],
      ['existing', 6, 'closing'],
    ]);
  });
});
