import { afterAll, describe, expect, it } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { keyMatchesCertificate, readCertificateChain, readPrivateKey } from "../../src/config/tls-files.ts";
import { scratchDir } from "../helpers/media.ts";

const FIXTURES = join(import.meta.dir, "fixtures");
const scratch = scratchDir("tls-files");
// One RSA key for every test: generating one can take a second on a loaded machine.
const RSA = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
afterAll(() => scratch.remove());

function keyFile(name: string, pem: string): string {
  const path = join(scratch.path, name);
  writeFileSync(path, pem);
  return path;
}

describe("readPrivateKey", () => {
  it("reads the PEM key formats certbot and openssl write: PKCS#8, PKCS#1 (RSA) and SEC1 (EC)", () => {
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const pems = [
      RSA.export({ type: "pkcs8", format: "pem" }) as string,
      RSA.export({ type: "pkcs1", format: "pem" }) as string,
      ec.export({ type: "sec1", format: "pem" }) as string,
    ];
    expect(pems.map((pem) => pem.split("\n")[0])).toEqual([
      "-----BEGIN PRIVATE KEY-----",
      "-----BEGIN RSA PRIVATE KEY-----",
      "-----BEGIN EC PRIVATE KEY-----",
    ]);
    pems.forEach((pem, i) => expect(readPrivateKey(keyFile(`key-${i}.pem`, pem))).toBe(pem));
  });

  it("refuses a PKCS#1 key encrypted the old way", () => {
    const pem = RSA.export({ type: "pkcs1", format: "pem", cipher: "aes-128-cbc", passphrase: "x" }) as string;
    expect(pem).toContain("Proc-Type: 4,ENCRYPTED");
    const path = keyFile("old-encrypted.pem", pem);
    expect(() => readPrivateKey(path)).toThrow(`"${path}" is an encrypted private key; the server needs it unencrypted`);
  });
});

describe("keyMatchesCertificate", () => {
  const chain = readCertificateChain(join(FIXTURES, "fullchain.pem"));

  it("pairs the leaf certificate of a chain with its key", () => {
    expect(keyMatchesCertificate(chain, readFileSync(join(FIXTURES, "key.pem"), "utf8"))).toBe(true);
  });

  it("tells another key apart, of the same type or not", () => {
    expect(keyMatchesCertificate(chain, readFileSync(join(FIXTURES, "other-key.pem"), "utf8"))).toBe(false);
    expect(keyMatchesCertificate(chain, RSA.export({ type: "pkcs8", format: "pem" }) as string)).toBe(false);
  });
});
