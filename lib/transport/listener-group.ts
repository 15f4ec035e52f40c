import type { Link, Listener } from './link';

/** Several listeners as one (a primary serving on TCP and on a serial line at once). */
export function listenerGroup(listeners: Listener[]): Listener {
  if (listeners.length === 1) return listeners[0];
  return {
    url: listeners.map((l) => l.url).join(' '),
    onLink(handler: (link: Link) => void) {
      for (const l of listeners) l.onLink(handler);
    },
    async close() {
      await Promise.all(listeners.map((l) => l.close()));
    },
  };
}
