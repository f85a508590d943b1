import { settledMemory, type MemorySample } from './child-ipc.js';

/**
 * Peak memory while something runs: samples `process.memoryUsage()` every `intervalMs` and
 * keeps the highest heapUsed + external (live JS objects and Buffers/ArrayBuffers, garbage
 * included until collected) and the highest RSS, relative to a settled baseline taken at
 * `start()`.
 */
export class MemoryPeak {
  private timer?: ReturnType<typeof setInterval>;
  private baseline?: MemorySample;
  private peakHeapExternal = 0;
  private peakRss = 0;

  async start(intervalMs = 10): Promise<void> {
    this.stop();
    this.baseline = await settledMemory();
    this.peakHeapExternal = this.baseline.heapUsed + this.baseline.external;
    this.peakRss = this.baseline.rss;
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  /** Stops sampling; returns growth over the baseline, in bytes. */
  stop(): { heapExternal: number; rss: number } {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.sample();
    }
    if (!this.baseline) return { heapExternal: 0, rss: 0 };
    return { heapExternal: this.peakHeapExternal - (this.baseline.heapUsed + this.baseline.external), rss: this.peakRss - this.baseline.rss };
  }

  private sample(): void {
    const { heapUsed, external, rss } = process.memoryUsage();
    this.peakHeapExternal = Math.max(this.peakHeapExternal, heapUsed + external);
    this.peakRss = Math.max(this.peakRss, rss);
  }
}
