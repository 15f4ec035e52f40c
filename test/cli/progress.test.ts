import t from 'tap';
import { PassThrough } from 'node:stream';
import { progress } from '../../lib/cli/progress';

function stream(tty: boolean): { s: NodeJS.WriteStream; text: () => string } {
  const p = new PassThrough();
  let text = '';
  p.on('data', (d) => (text += d));
  const s = Object.assign(p, { isTTY: tty, columns: 80, cursorTo: () => true, clearLine: () => true, moveCursor: () => true }) as unknown as NodeJS.WriteStream;
  return { s, text: () => text };
}

t.test('without a terminal: plain lines, throttled, and a last line at the end', async (t) => {
  const { s, text } = stream(false);
  const p = progress('join standby-1', 1000, s, 60_000);
  for (let i = 1; i <= 1000; i++) p.update(i);
  p.stop();
  const lines = text().trim().split('\n');
  t.same(lines, ['join standby-1: 1/1000 (0%)', 'join standby-1: 1000/1000 (100%)'], 'one line at the start of the period, one at the end; no redraw codes');
});

t.test('on a terminal: a bar that ends at 100 %', async (t) => {
  const { s, text } = stream(true);
  const p = progress('join standby-1', 10, s);
  p.update(5);
  p.update(10, 10);
  p.stop();
  t.match(text(), /join standby-1 \[.*\] 100% 10\/10/, 'the bar shows the label, percentage and counts');
});
