import t from 'tap';
import { crc32, crc32c, crc32cBackend } from '../../index';

t.test('known answers', async (t) => {
  const digits = Buffer.from('123456789');
  t.equal(crc32c(digits), 0xe3069283);
  t.equal(crc32(digits), 0xcbf43926);
  t.equal(crc32c(Buffer.alloc(0)), 0);
  t.equal(crc32(Buffer.alloc(0)), 0);
  t.type(crc32cBackend(), 'string');
});

t.test('seed chains', async (t) => {
  const a = Buffer.from('hello, ');
  const b = Buffer.from('world');
  t.equal(crc32c(b, crc32c(a)), crc32c(Buffer.concat([a, b])));
  t.equal(crc32(b, crc32(a)), crc32(Buffer.concat([a, b])));
});

t.test('bad arguments throw', async (t) => {
  t.throws(() => crc32c('abc' as unknown as Buffer), TypeError);
  t.throws(() => crc32(Buffer.alloc(1), -1), TypeError);
});
