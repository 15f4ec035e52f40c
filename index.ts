/** salvor's programmatic API (CommonJS and ES module alike; docs/api.md). */
export { SalvorError } from './bindings/salvor-error';
export { crc32, crc32c, crc32cBackend } from './bindings/crc';
