/**
 * The facts an agent reports about its host in its Hello, read with `systeminformation`.
 */
import { cpu, mem, osInfo } from 'systeminformation';
import type { LinkHostFacts } from '../../proto/link-messages.js';

/**
 * Reads OS, kernel, architecture, logical CPUs and memory. `source` is the event source the
 * agent runs, and why (`"ebpf"`, `"procfs: not root"`). Values the host does not reveal are
 * empty or zero rather than errors: the facts are for display.
 *
 * @example const host = await collectHostFacts('jsonl');
 */
export async function collectHostFacts(source: string): Promise<LinkHostFacts> {
  const [os, memory, processor] = await Promise.all([osInfo(), mem(), cpu()]);
  return {
    hostname: os.hostname,
    os: [os.distro, os.release].filter((s) => s !== '' && s !== 'unknown').join(' ') || os.platform,
    kernel: os.kernel,
    arch: os.arch,
    cpus: processor.cores,
    memoryBytes: memory.total,
    source,
  };
}
