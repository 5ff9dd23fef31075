/**
 * A self-signed certificate for 127.0.0.1 (and no other name), made with openssl for a test: the RTMPS
 * listener serves it, and a client trusts it only when told to (it is its own CA).
 */
import { join } from "node:path";
import { run } from "../../support/children.ts";

export interface TestCertificate {
  /** PEM files. */
  cert: string;
  key: string;
}

/** `name` is the certificate's common name, to tell certificates apart; the files are `{name}.cert.pem` etc. */
export async function selfSignedCertificate(dir: string, name = "rtmp-server test"): Promise<TestCertificate> {
  const file = name.replace(/[^A-Za-z0-9]+/g, "-");
  const cert = join(dir, `${file}.cert.pem`);
  const key = join(dir, `${file}.key.pem`);
  const made = await run([
    "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", key, "-out", cert, "-days", "2", "-subj", `/CN=${name}`,
    "-addext", "subjectAltName=IP:127.0.0.1",
  ]);
  if (made.code !== 0) throw new Error(`openssl failed (exit ${made.code}):\n${made.stderr}`);
  return { cert, key };
}
