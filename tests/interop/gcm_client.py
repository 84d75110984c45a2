#!/usr/bin/env python3
"""An independent client for microweb's body encryption scheme `aes-256-gcm` (version 1).

Written from the format documented in mods/crypto/mod.rs only, with implementations microweb did
not write: `cryptography` (ECDH on SECP256K1, HKDF-SHA256, AES-GCM) and `coincurve` (libsecp256k1's
BIP-340 Schnorr).

Two modes:

  --pipe    (in-process tests) print one JSON line holding the sealed request, then read JSON
            lines, each a response {"status", "headers", "body_b64"}; for each print
            {"ok": true, "status", "plaintext_b64"} or {"ok": false, "error"}.
  --url URL (wire tests) send the request with urllib and print the verified, decrypted response
            as the same JSON object; exit 1 if the response does not verify.

Common options: --server-key B64 (the pinned server key, base64 of X || Y), --method, --target
(path and query, as sent and signed), --body TEXT, --no-reply-key (do not ask for an encrypted
response), --now RFC3339 (the timestamp; default: the current time).

Install the packages with: python3 -m pip install cryptography coincurve
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import sys

import coincurve
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LABEL = b"microweb/aes-256-gcm/v1"
REQUEST_LABEL = b"microweb/aes-256-gcm/v1 request"
RESPONSE_LABEL = b"microweb/aes-256-gcm/v1 response"
CURVE = ec.SECP256K1()


def load_public(b64):
    """Parses a header key: base64 of the 64 bytes X || Y."""
    raw = base64.b64decode(b64, validate=True)
    if len(raw) != 64:
        raise ValueError("public key must be 64 bytes X || Y")
    return ec.EllipticCurvePublicKey.from_encoded_point(CURVE, b"\x04" + raw)


def public_b64(pub):
    """The header form of a key."""
    raw = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.b64encode(raw[1:]).decode("ascii")


def compressed(pub):
    """K(P): the 33-byte SEC1 compressed form."""
    return pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


def fields(*parts):
    """Each field is its length as u32 big-endian, then its bytes."""
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def derive_key(shared_x, ephemeral_pub, recipient_pub):
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=LABEL,
        info=LABEL + compressed(ephemeral_pub) + compressed(recipient_pub),
    ).derive(shared_x)


def seal(recipient_pub, plaintext):
    """Returns (ephemeral public key, body = nonce || ciphertext || tag)."""
    eph = ec.generate_private_key(CURVE)
    shared_x = eph.exchange(ec.ECDH(), recipient_pub)
    key = derive_key(shared_x, eph.public_key(), recipient_pub)
    nonce = os.urandom(12)
    return eph.public_key(), nonce + AESGCM(key).encrypt(nonce, plaintext, None)


def open_body(recipient_priv, ephemeral_pub, body):
    if len(body) < 28:
        raise ValueError("body shorter than nonce and tag")
    shared_x = recipient_priv.exchange(ec.ECDH(), ephemeral_pub)
    key = derive_key(shared_x, ephemeral_pub, recipient_priv.public_key())
    return AESGCM(key).decrypt(body[:12], body[12:], None)


class GcmClient:
    def __init__(self, server_key_b64):
        self.server_pub = load_public(server_key_b64)
        self.server_x = base64.b64decode(server_key_b64)[:32]
        self.priv = ec.generate_private_key(CURVE)
        secret = self.priv.private_numbers().private_value.to_bytes(32, "big")
        self.signer = coincurve.PrivateKey(secret)

    def seal_request(self, method, target, plaintext, reply_key=True, now=None):
        timestamp = now or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")
        me = self.priv.public_key()
        if plaintext:
            eph_pub, body = seal(self.server_pub, plaintext)
        else:
            # An empty plaintext travels as an empty body; the ephemeral key still names it.
            eph_pub, body = ec.generate_private_key(CURVE).public_key(), b""
        message = fields(
            REQUEST_LABEL,
            method.encode("ascii"),
            target.encode("ascii"),
            timestamp.encode("ascii"),
            compressed(eph_pub),
            compressed(me),
            compressed(me) if reply_key else b"",
            body,
        )
        signature = self.signer.sign_schnorr(hashlib.sha256(message).digest(), os.urandom(32))
        headers = {
            "Encryption-Scheme": "aes-256-gcm",
            "Ephemeral-Public-Key": public_b64(eph_pub),
            "Sender-Public-Key": public_b64(me),
            "Nonce": timestamp,
            "Sender-Signature": base64.b64encode(signature).decode("ascii"),
        }
        if reply_key:
            headers["Response-Public-Key"] = public_b64(me)
        self.sent_signature = headers["Sender-Signature"]
        return headers, body

    def open_response(self, status, headers, body):
        h = {k.lower(): v for k, v in headers.items()}
        if h.get("encryption-scheme") != "aes-256-gcm":
            raise ValueError("response is not sealed with aes-256-gcm")
        if base64.b64decode(h["sender-public-key"]) != base64.b64decode(public_b64(self.server_pub)):
            raise ValueError("response signed by another key than the pinned server key")
        eph_pub = load_public(h["ephemeral-public-key"])
        signature = base64.b64decode(h["sender-signature"], validate=True)
        message = fields(
            RESPONSE_LABEL,
            b"%03d" % status,
            hashlib.sha256(self.sent_signature.encode("ascii")).digest(),
            compressed(eph_pub),
            compressed(self.server_pub),
            compressed(self.priv.public_key()),
            body,
        )
        if not coincurve.PublicKeyXOnly(self.server_x).verify(signature, hashlib.sha256(message).digest()):
            raise ValueError("bad response signature")
        return open_body(self.priv, eph_pub, body)


def pipe(args, client):
    headers, body = client.seal_request(
        args.method, args.target, args.body.encode("utf-8"), not args.no_reply_key, args.now
    )
    out = {
        "method": args.method,
        "target": args.target,
        "headers": headers,
        "body_b64": base64.b64encode(body).decode("ascii"),
    }
    print(json.dumps(out), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        resp = json.loads(line)
        try:
            plain = client.open_response(resp["status"], resp["headers"], base64.b64decode(resp["body_b64"]))
            print(json.dumps({"ok": True, "status": resp["status"],
                              "plaintext_b64": base64.b64encode(plain).decode("ascii")}), flush=True)
        except Exception as e:  # every failure is reported, none crashes the loop
            print(json.dumps({"ok": False, "error": "%s: %s" % (type(e).__name__, e)}), flush=True)


def wire(args, client):
    import urllib.error
    import urllib.request

    headers, body = client.seal_request(
        args.method, args.target, args.body.encode("utf-8"), not args.no_reply_key, args.now
    )
    req = urllib.request.Request(args.url.rstrip("/") + args.target, data=body or None,
                                 headers=headers, method=args.method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, resp_headers, resp_body = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        status, resp_headers, resp_body = e.code, dict(e.headers), e.read()
    try:
        plain = client.open_response(status, resp_headers, resp_body)
    except Exception as e:
        print(json.dumps({"ok": False, "status": status, "error": "%s: %s" % (type(e).__name__, e)}))
        return 1
    print(json.dumps({"ok": True, "status": status, "plaintext_b64": base64.b64encode(plain).decode("ascii")}))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--pipe", action="store_true")
    mode.add_argument("--url")
    p.add_argument("--server-key", required=True)
    p.add_argument("--method", default="POST")
    p.add_argument("--target", default="/api/echo")
    p.add_argument("--body", default="")
    p.add_argument("--no-reply-key", action="store_true")
    p.add_argument("--now")
    args = p.parse_args()
    client = GcmClient(args.server_key)
    if args.pipe:
        pipe(args, client)
        return 0
    return wire(args, client)


if __name__ == "__main__":
    sys.exit(main())
