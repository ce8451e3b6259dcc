import type { Logger } from 'pino';

/**
 * What a start-up opened, to be closed in reverse order: push a closer as each part starts, and
 * unwind once, whether the start failed half-way or the process is stopping. A closer that fails
 * is logged and the rest still run, so one stuck part cannot keep Redis connections or listeners
 * open behind it.
 */
export class TeardownStack {
  private readonly closers: Array<{ part: string; close: () => unknown }> = [];
  private unwinding: Promise<void> | undefined;

  constructor(private readonly log: Logger) {}

  push(part: string, close: () => unknown): void {
    this.closers.push({ part, close });
  }

  /** Runs every closer, newest first; later calls get the same promise. */
  unwind(): Promise<void> {
    this.unwinding ??= (async () => {
      for (let closer = this.closers.pop(); closer; closer = this.closers.pop()) {
        try {
          await closer.close();
          this.log.debug({ part: closer.part }, 'stopped');
        } catch (error) {
          this.log.error({ part: closer.part, err: (error as Error).message }, 'could not stop cleanly; stopping the rest');
        }
      }
    })();
    return this.unwinding;
  }
}
