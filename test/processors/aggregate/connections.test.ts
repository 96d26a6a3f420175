import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionTable, SENT, STRIDE } from '../../../src/processors/aggregate/connections.js';
import { mulberry32 } from '../../../src/core/hash.js';

test('connection table: random inserts, lookups and deletes agree with a Map, across growth', () => {
  const rnd = mulberry32(11);
  const table = new ConnectionTable<string, number>(1_000_000);
  const model = new Map<number, number>();
  // Small ids (a kernel counter) and ids above 2^52 (raw_tp's synthetic cookies), clustered.
  const ids = Array.from({ length: 6000 }, (_, i) => (i % 3 === 0 ? 2 ** 52 + i * 4096 : i * 7 + 1));
  for (let step = 0; step < 60000; step++) {
    const id = ids[Math.floor(rnd() * ids.length)]!;
    const op = rnd();
    if (op < 0.5) {
      if (!model.has(id)) {
        const slot = table.insert(id, `k${id}`, id, () => assert.fail('no eviction below the limit'));
        table.data[slot * STRIDE + SENT] = id % 1000;
        model.set(id, id % 1000);
      }
    } else if (op < 0.8) {
      assert.equal(table.delete(id), model.delete(id));
    } else {
      const slot = table.find(id);
      assert.equal(slot >= 0, model.has(id), `find ${id}`);
      if (slot >= 0) {
        assert.equal(table.data[slot * STRIDE + SENT], model.get(id));
        assert.equal(table.keys[slot], `k${id}`);
        assert.equal(table.attrs[slot], id);
      }
    }
    assert.equal(table.size, model.size);
  }
  for (const [id, sent] of model) {
    const slot = table.find(id);
    assert.ok(slot >= 0);
    assert.equal(table.data[slot * STRIDE + SENT], sent);
  }
});

test('connection table: at its limit the oldest live connection is evicted, and counted', () => {
  let evicted = 0;
  const table = new ConnectionTable<string, undefined>(3);
  const add = (id: number) => table.insert(id, String(id), undefined, () => evicted++);
  add(1);
  add(2);
  add(3);
  table.delete(1); // gone before the limit: not a candidate any more
  add(4);
  assert.equal(evicted, 0);
  add(5); // 2 is the oldest live one
  assert.equal(evicted, 1);
  assert.deepEqual([1, 2, 3, 4, 5].map((id) => table.find(id) >= 0), [false, false, true, true, true]);
  // Many more, with deletes between: the queue compacts and order still holds.
  for (let id = 6; id < 5000; id++) {
    add(id);
    if (id % 2 === 0) table.delete(id - 1);
  }
  assert.equal(table.size, 3);
  assert.ok(table.find(4999) >= 0 && table.find(4998) >= 0, 'the newest stay');
});
