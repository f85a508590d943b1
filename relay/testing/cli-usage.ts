import { expect } from 'vitest';
import { CliUsageError, parseRelayArgs } from '../cli-args.js';

/** Runs the relay CLI parser on input it must refuse; returns the message (exit code 2 checked). */
export function refusedUsage(argv: string[], env: Record<string, string> = {}): string {
  try {
    parseRelayArgs(argv, env);
  } catch (error) {
    expect(error).toBeInstanceOf(CliUsageError);
    expect((error as CliUsageError).exitCode).toBe(2);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(argv)} ${JSON.stringify(env)}`);
}
