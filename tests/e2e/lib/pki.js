'use strict';
// Certificates for the cluster TLS suites, made by the `openssl` CLI in a
// folder of the caller. A node certificate names the address other nodes
// dial (docs/ISOLATION.md): here IP:127.0.0.1 and DNS:localhost,
// unless the test gives other names (an impostor's certificate).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

function openssl(args, cwd) {
  try {
    return execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 });
  } catch (e) {
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

// A self-signed CA: {cert, key, name}.
function makeCa(dir, name) {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.pem`);
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', `/CN=collab e2e ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return { cert, key, name };
}

// A node certificate signed by `ca`: {cert, key, name}. `san`: its
// subjectAltName (default: the loopback address the e2e nodes dial).
function makeLeaf(dir, name, ca, { san = 'IP:127.0.0.1,DNS:localhost' } = {}) {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const cert = path.join(dir, `${name}.pem`);
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(ext, [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth,clientAuth',
    `subjectAltName=${san}`,
    '',
  ].join('\n'));
  openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr,
    '-subj', `/CN=${name}`], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial',
    '-out', cert, '-days', '2', '-extfile', ext], dir);
  // the chain is what the test means it to be
  openssl(['verify', '-CAfile', ca.cert, cert], dir);
  return { cert, key, name };
}

function tlsEnv(leaf, ca) {
  return { COLLAB_CLUSTER_TLS_CERT: leaf.cert, COLLAB_CLUSTER_TLS_KEY: leaf.key, COLLAB_CLUSTER_TLS_CA: ca.cert };
}

module.exports = { openssl, makeCa, makeLeaf, tlsEnv };
