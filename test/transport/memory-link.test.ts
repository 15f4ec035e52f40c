import t from 'tap';
import { memoryLinkPair } from '../../platform/sim/memory-link';
import { runLinkContract } from './link-contract';

// The in-process link the protocol tests use keeps the same contract as TCP and serial.
runLinkContract(t, 'in-process memory link', async () => {
  const [a, b] = memoryLinkPair();
  return { a, b, cleanup: async () => void (await Promise.all([a.close(), b.close()])) };
});
