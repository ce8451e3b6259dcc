// A throwaway certificate authority for tests and benchmarks: servers (Dovecot) get a certificate
// it signed for localhost / 127.0.0.1, and the gateway trusts it through IMAP_TLS_CA_FILE with
// certificate verification left on, as an operator with a private CA would run it. Made with the
// openssl command line, like the self-signed certificate of a plain `tls: true` Dovecot.

import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface ServerCertificate {
  certFile: string;
  keyFile: string;
}

export interface TestCa {
  /** The CA certificate (PEM), what a client must trust. */
  readonly caFile: string;
  /** Writes a key and a certificate for localhost and 127.0.0.1, signed by this CA, into `dir`. */
  issue(dir: string): Promise<ServerCertificate>;
  cleanup(): Promise<void>;
}

/**
 * RSA 2048 keys, the most common kind on IMAP servers and the dearer handshake of the usual
 * choices (ECDSA P-256 signs faster), so a benchmark over this CA does not flatter TLS.
 */
export async function createTestCa(): Promise<TestCa> {
  // Under /tmp like Dovecot's dir: the files must be readable by its unprivileged processes.
  const dir = await mkdtemp('/tmp/mailpush-ca-');
  await chmod(dir, 0o755);
  const caFile = path.join(dir, 'ca.pem');
  const caKey = path.join(dir, 'ca-key.pem');
  await execFileAsync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=mailpush test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', caKey, '-out', caFile,
  ]);
  return {
    caFile,
    async issue(target: string): Promise<ServerCertificate> {
      const keyFile = path.join(target, 'key.pem');
      const certFile = path.join(target, 'cert.pem');
      const csr = path.join(target, 'cert.csr');
      await execFileAsync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', keyFile, '-out', csr]);
      // -copy_extensions is OpenSSL 3; passing the SAN on the signing side works on 1.1 too.
      const extensions = path.join(target, 'cert.ext');
      await writeFile(extensions, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
      await execFileAsync('openssl', [
        'x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-days', '2',
        '-extfile', extensions, '-out', certFile,
      ]);
      await rm(csr, { force: true });
      await rm(extensions, { force: true });
      return { certFile, keyFile };
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
