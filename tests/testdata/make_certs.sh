#!/usr/bin/env bash
# Makes the TEST-ONLY certificates used by squall's TLS tests and examples:
# a CA, a server certificate it signed (SAN DNS:localhost, IP:127.0.0.1),
# and a second, unrelated CA for "wrong CA" tests. 10-year validity. The
# private keys are committed on purpose: they protect nothing.
set -euo pipefail
cd "$(dirname "$0")"

openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt \
  -days 3650 -subj "/CN=squall test CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign"

openssl req -x509 -newkey rsa:2048 -nodes -keyout other_ca.key \
  -out other_ca.crt -days 3650 -subj "/CN=squall unrelated test CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign"
rm other_ca.key

openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
  -subj "/CN=localhost"
cat > server.ext <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
EXT
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
  -out server.crt -days 3650 -extfile server.ext
rm server.csr server.ext ca.srl ca.key
openssl verify -CAfile ca.crt server.crt
