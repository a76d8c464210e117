#!/usr/bin/env bash
# Makes the certificates the tests (and the benchmark) use, with the openssl
# CLI. Everything is valid for 100 years, except the one certificate that is
# expired on purpose. Usage: make-test-certs.sh [output-dir]
set -euo pipefail

out="${1:-$(dirname "$0")/../test/fixtures/certs}"
mkdir -p "$out"
cd "$out"
days=36500
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
rsa_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }

# ca NAME SUBJECT: a self-signed CA.
make_ca() {
  ec_key "$1.key"
  openssl req -x509 -new -key "$1.key" -subj "$2" -days "$days" -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.pem"
}

# leaf NAME KEYTYPE SUBJECT CA EXTENSIONS: a certificate signed by CA.
make_leaf() {
  local name=$1 type=$2 subject=$3 ca=$4 ext=$5
  "${type}_key" "$name.key"
  openssl req -new -key "$name.key" -subj "$subject" -out "$work/$name.csr"
  printf '%b' "$ext" > "$work/$name.ext"
  openssl x509 -req -in "$work/$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
    -days "$days" -sha256 -extfile "$work/$name.ext" -out "$name.pem" 2>/dev/null
  cat "$name.pem" "$ca.pem" > "$name-chain.pem"
}

server_ext='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,DNS:server.memtls.test\n'
client_ext='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'
# Identity-check cases: whole and partial wildcards, an IDNA label, IPv6, and
# a certificate whose only DNS identity is its subject CN.
names_ext='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:*.wild.memtls.test,DNS:f*.partial.memtls.test,DNS:xn--bcher-kva.memtls.test,DNS:Upper.Memtls.Test,DNS:*.xn--idna.memtls.test,IP:10.0.0.1,IP:::1\n'
cn_only_ext='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.2\n'
alt_ext='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:alt.memtls.test\n'

make_ca ca "/O=memtls/CN=memtls Test CA"
make_ca other-ca "/O=elsewhere/CN=Unrelated Test CA"
make_leaf server-ec ec "/O=memtls/CN=localhost" ca "$server_ext"
make_leaf server-rsa rsa "/O=memtls/CN=localhost" ca "$server_ext"
make_leaf alt ec "/O=memtls/CN=alt.memtls.test" ca "$alt_ext"
make_leaf client ec "/O=memtls/CN=memtls client" ca "$client_ext"
make_leaf unknown-ca ec "/O=elsewhere/CN=localhost" other-ca "$server_ext"
make_leaf names ec "/O=memtls/CN=names.memtls.test" ca "$names_ext"
make_leaf cn-only ec "/O=memtls/CN=cn.memtls.test" ca "$cn_only_ext"

# A self-signed leaf for localhost (no CA behind it).
ec_key self-signed.key
openssl req -x509 -new -key self-signed.key -subj "/CN=localhost" -days "$days" -sha256 \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -out self-signed.pem

# The same server key, encrypted with a passphrase.
openssl pkey -in server-ec.key -aes256 -passout pass:memtls-secret -out server-ec-encrypted.key

# An expired leaf: `openssl ca` is the only 3.0 command that takes explicit dates.
ec_key expired.key
openssl req -new -key expired.key -subj "/O=memtls/CN=localhost" -out "$work/expired.csr"
mkdir -p "$work/ca/newcerts"
: > "$work/ca/index.txt"
echo 01 > "$work/ca/serial"
cat > "$work/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
dir = $work/ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
default_md = sha256
policy = anything
copy_extensions = none
unique_subject = no
[anything]
O = optional
CN = supplied
[leaf]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
CNF
openssl ca -batch -config "$work/ca.cnf" -extensions leaf -cert ca.pem -keyfile ca.key \
  -startdate 20000101000000Z -enddate 20010101000000Z -in "$work/expired.csr" -out expired.pem \
  -notext 2>/dev/null

rm -f ./*.srl
echo "test certificates written to $(pwd)"
