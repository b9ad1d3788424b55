/**
 * Simulated time for deterministic tests: a clock that moves only when told, and timers that fire when the
 * clock passes their deadline (in deadline order, ties in start order).
 *
 *   const time = new ManualTime();
 *   time.timers.start(100, () => fired = true);
 *   time.advance(100); // fires
 */
import type { Clock, TimerHandle, TimerService } from '../types.js';

export class ManualTime {
  private current = 0;
  private nextId = 1;
  private readonly scheduled = new Map<number, { deadline: number; callback: () => void }>();

  readonly clock: Clock = { now: () => this.current };

  readonly timers: TimerService = {
    start: (milliseconds, callback) => {
      const id = this.nextId++;
      this.scheduled.set(id, { deadline: this.current + Math.max(0, milliseconds), callback });
      return { id };
    },
    cancel: (handle: TimerHandle) => {
      this.scheduled.delete(handle.id);
    },
  };

  /** Moves the clock forward, firing every timer whose deadline is reached. */
  advance(milliseconds: number): void {
    const target = this.current + milliseconds;
    for (;;) {
      let nextId: number | undefined;
      let nextDeadline = Infinity;
      for (const [id, timer] of this.scheduled) {
        if (timer.deadline <= target && timer.deadline < nextDeadline) {
          nextDeadline = timer.deadline;
          nextId = id;
        }
      }
      if (nextId === undefined) break;
      const timer = this.scheduled.get(nextId);
      this.scheduled.delete(nextId);
      this.current = nextDeadline;
      timer?.callback();
    }
    this.current = target;
  }

  /** Timers still waiting. */
  get pendingTimers(): number {
    return this.scheduled.size;
  }
}
