import { inject } from 'vitest';
import './global-setup.js';

/** The directory the global setup built the worker, page library and demo into for this run. */
export function testWebRoot(): string {
  return inject('testWebRoot');
}
