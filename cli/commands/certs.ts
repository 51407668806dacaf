/**
 * `vigil certs`: the certificates of the agent <-> collector link's mutual TLS.
 */
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { defaultCollectorNames } from '../../collector/certs/certificate-authority.js';
import { initCertificateDirectory, issueAgentFiles } from '../../collector/certs/certificate-directory.js';
import { UsageError, type CliIO, type Command } from '../command.js';

const usage = `Usage: vigil certs init  --dir DIR [--san NAME|IP]... [--namespace NS] [--days N] [--force]
       vigil certs agent --dir DIR --node NAME [--days N] [--force]

Creates the certificates for mutual TLS between agents and the collector (RSA 2048, SHA-256).

init   creates a CA (DIR/ca.crt, DIR/ca.key) and the collector's server certificate
       (DIR/collector/tls.crt, tls.key, ca.crt). The collector's names are localhost,
       127.0.0.1, ::1, vigil-collector and vigil-collector.NS[.svc[.cluster.local]], plus
       every --san.
agent  issues the client certificate of one node with the CA in DIR
       (DIR/agents/NAME/tls.crt, tls.key, ca.crt). The node name goes into the URI SAN
       urn:vigil:node:NAME, which the collector checks against the agent's Hello, and into
       the subject CN.

Each folder has the layout of a Kubernetes TLS secret:
  kubectl -n vigil create secret generic vigil-collector-tls --from-file=DIR/collector
Keys are written with mode 0600. Keep DIR/ca.key off the cluster. Existing files are not
replaced without --force. To use cert-manager instead, see collector/certs/README.md.

Options:
  --dir DIR         where the files are (created when missing)
  --san NAME|IP     another DNS name or IP address of the collector (repeatable)
  --namespace NS    the collector's namespace, for its Service names (default vigil)
  --node NAME       the Kubernetes node name the agent certificate is for
  --days N          validity of the collector's or agent's certificate (default 365; the CA 3650)
  --force           replace existing files`;

function positiveDays(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const days = Number(text);
  if (!Number.isSafeInteger(days) || days <= 0)
    throw new UsageError(`--days must be a positive integer, got ${text}`);
  return days;
}

/** `vigil certs init|agent`. */
export const certsCommand: Command = {
  name: 'certs',
  summary: 'create the CA and certificates for agent <-> collector mutual TLS',
  usage,
  run(args, io: CliIO): Promise<number> {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: {
        dir: { type: 'string' },
        san: { type: 'string', multiple: true },
        namespace: { type: 'string' },
        node: { type: 'string' },
        days: { type: 'string' },
        force: { type: 'boolean', default: false },
      },
      allowPositionals: true,
    });
    const [sub, ...rest] = positionals;
    if (rest.length > 0) throw new UsageError(`unexpected argument: ${rest[0]}`);
    const dir = values.dir;
    if (dir === undefined) throw new UsageError('--dir is required');
    const days = positiveDays(values.days);
    const common = { force: values.force, ...(days !== undefined ? { validityDays: days } : {}) };

    let written: string[];
    switch (sub) {
      case 'init': {
        if (values.node !== undefined) throw new UsageError('--node belongs to `vigil certs agent`');
        const names = defaultCollectorNames(values.namespace ?? 'vigil');
        const extra = values.san ?? [];
        written = initCertificateDirectory(dir, {
          ...common,
          dnsNames: [...names.dnsNames, ...extra.filter((s) => isIP(s) === 0)],
          ipAddresses: [...names.ipAddresses, ...extra.filter((s) => isIP(s) !== 0)],
        });
        break;
      }
      case 'agent': {
        if (values.node === undefined) throw new UsageError('--node is required');
        if (values.san !== undefined || values.namespace !== undefined) {
          throw new UsageError('--san and --namespace belong to `vigil certs init`');
        }
        written = issueAgentFiles(dir, values.node, common);
        break;
      }
      case undefined:
        throw new UsageError('missing subcommand (init or agent)');
      default:
        throw new UsageError(`unknown subcommand: ${sub}`);
    }
    for (const path of written) io.stdout.write(`wrote ${path}\n`);
    return Promise.resolve(0);
  },
};
